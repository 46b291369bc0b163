-- Flagged share of boxes per job and its role, by the job's creation date (UTC), for trends across jobs of one role.
-- order: job_created, job_name
SELECT j.job_created, coalesce(r.role, 'labeling') AS job_role, m.job_name, count(*) AS boxes,
       count_if(cardinality(m.flags) > 0) AS flagged_boxes,
       CAST(count_if(cardinality(m.flags) > 0) AS double) / count(*) AS flagged_share
FROM box_metrics m
JOIN (SELECT job_name, CAST(min(creation_time) AS date) AS job_created
      FROM sequences WHERE NOT inherited GROUP BY job_name) j ON j.job_name = m.job_name
LEFT JOIN jobs r ON r.job_name = m.job_name
GROUP BY j.job_created, coalesce(r.role, 'labeling'), m.job_name
