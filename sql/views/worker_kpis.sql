-- One row: workers, tasks, median wall and active time of a submitted task, and the overall adjustment rate.
SELECT (SELECT count(DISTINCT worker_id) FROM worker_tasks) AS workers,
       (SELECT count(*) FROM worker_tasks) AS tasks,
       (SELECT approx_percentile(wall_seconds, 0.5) FROM worker_tasks WHERE outcome = 'submitted') AS wall_median_s,
       (SELECT approx_percentile(active_seconds, 0.5) FROM worker_tasks WHERE outcome = 'submitted') AS active_median_s,
       (SELECT CAST(sum(adjusted_boxes) + sum(added) AS double) / nullif(sum(audited_boxes) + sum(added), 0)
        FROM worker_quality) AS adjustment_rate
