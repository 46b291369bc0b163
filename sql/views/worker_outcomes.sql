-- Per worker and job: tasks touched, and the shares returned and declined.
-- order: worker_id, job_name
SELECT worker_id, job_name, count(*) AS tasks,
       CAST(count_if(outcome = 'returned') AS double) / count(*) AS returned_rate,
       CAST(count_if(outcome = 'declined') AS double) / count(*) AS declined_rate
FROM worker_tasks
GROUP BY worker_id, job_name
