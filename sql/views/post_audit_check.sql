-- Per audit job: boxes of its corrected labels still flagged by the quality checks, beside the audited job's flagged share.
-- order: audit_job, audited_job
SELECT a.job_name AS audit_job, a.audited_job, a.boxes, a.flagged_boxes, a.flagged_share,
       s.boxes AS audited_boxes, s.flagged_share AS audited_flagged_share
FROM (SELECT m.job_name, j.audited_job, count(*) AS boxes, count_if(cardinality(m.flags) > 0) AS flagged_boxes,
             CAST(count_if(cardinality(m.flags) > 0) AS double) / count(*) AS flagged_share
      FROM box_metrics m JOIN jobs j ON j.job_name = m.job_name
      WHERE j.role = 'audit'
      GROUP BY m.job_name, j.audited_job) a
LEFT JOIN (SELECT job_name, count(*) AS boxes,
                  CAST(count_if(cardinality(flags) > 0) AS double) / count(*) AS flagged_share
           FROM box_metrics GROUP BY job_name) s ON s.job_name = a.audited_job
