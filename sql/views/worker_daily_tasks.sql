-- Tasks per worker per day (UTC, by when the task ended), by outcome, with active hours.
-- order: day, worker_id
SELECT worker_id, CAST(finished_at AS date) AS day, count(*) AS tasks,
       count_if(outcome = 'submitted') AS submitted, count_if(outcome = 'returned') AS returned,
       count_if(outcome = 'declined') AS declined,
       coalesce(sum(active_seconds), 0) / 3600.0 AS active_hours
FROM worker_tasks
WHERE finished_at IS NOT NULL
GROUP BY worker_id, CAST(finished_at AS date)
