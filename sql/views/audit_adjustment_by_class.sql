-- Per audited job and class: worker boxes audited, boxes the auditor touched, and the adjustment rate.
-- order: job_name, label
SELECT source_job AS job_name, coalesce(label, audit_label) AS label,
       count_if(object_id IS NOT NULL) AS worker_boxes,
       count_if(change <> 'unchanged') AS touched,
       CAST(count_if(change <> 'unchanged') AS double) / count(*) AS adjustment_rate
FROM audit_changes
GROUP BY source_job, coalesce(label, audit_label)
