-- Per job role: jobs, sequences, frames and boxes ingested, and when the newest job was created.
-- order: role
SELECT role, count(*) AS jobs, sum(sequences) AS sequences, sum(labeled_sequences) AS labeled_sequences,
       sum(frames) AS frames, sum(boxes) AS boxes, max(created_at) AS newest_job_created_at
FROM jobs
GROUP BY role
