-- Wall vs active time per submitted task, per worker: median and 90th percentile, and the active share.
-- order: worker_id
SELECT worker_id, count(*) AS tasks,
       approx_percentile(wall_seconds, 0.5) AS wall_median_s, approx_percentile(wall_seconds, 0.9) AS wall_p90_s,
       approx_percentile(active_seconds, 0.5) AS active_median_s,
       approx_percentile(active_seconds, 0.9) AS active_p90_s,
       sum(active_seconds) / nullif(sum(CASE WHEN active_seconds IS NOT NULL THEN wall_seconds END), 0)
         AS active_share
FROM worker_tasks
WHERE outcome = 'submitted'
GROUP BY worker_id
