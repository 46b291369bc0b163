-- Flagged share of boxes per job, by the job's creation date (UTC), for trends across jobs.
SELECT j.job_created, m.job_name, count(*) AS boxes,
       count_if(cardinality(m.flags) > 0) AS flagged_boxes,
       CAST(count_if(cardinality(m.flags) > 0) AS double) / count(*) AS flagged_share
FROM box_metrics m
JOIN (SELECT job_name, CAST(min(creation_time) AS date) AS job_created
      FROM sequences WHERE NOT inherited GROUP BY job_name) j ON j.job_name = m.job_name
GROUP BY j.job_created, m.job_name
