-- The review queue, ready to send to audit: rank, reasons, frame file, sequence file, labels file, job date; an overlooked object (no object_id) with the model's box, where a box is to be added.
-- order: job_name, rank
SELECT q.job_name, q.rank, q.score, array_join(q.reasons, ',') AS reasons, q.sequence_id, q.frame_no, q.frame_file,
       q.object_id, q.object_name, q.label, q.model, q.model_left, q.model_top, q.model_width, q.model_height,
       q.source_ref, q.labels_ref, j.job_created
FROM review_queue q
LEFT JOIN (SELECT job_name, CAST(min(creation_time) AS date) AS job_created
           FROM sequences WHERE NOT inherited GROUP BY job_name) j ON j.job_name = q.job_name
