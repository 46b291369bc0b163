-- What kinds of change auditors make, per audit job: rows of each kind and their share.
-- order: audit_job, source_job, change
SELECT audit_job, source_job, change, count(*) AS boxes,
       CAST(count(*) AS double) / sum(count(*)) OVER (PARTITION BY audit_job) AS share
FROM audit_changes
GROUP BY audit_job, source_job, change
