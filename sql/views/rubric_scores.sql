-- Penalty-weighted quality per sequence, job and worker (the rubric: omission and inaccurate box 100%, wrong label and tracking error 20%, attributes 5%), from the audit's changes where an audit exists, else from the review queue's flags.
-- order: level, job_name, sequence_id, worker_id
WITH audited AS (
  SELECT source_job AS job_name, sequence_id, max(labeler_id) AS worker_id, 'audit' AS source,
         count_if(change <> 'added') AS boxes,
         count_if(change = 'added') AS omissions,
         count_if(change IN ('moved', 'resized', 'deleted')) AS inaccurate,
         count_if(change = 'relabeled') AS wrong_labels,
         count_if(change = 'reidentified') AS tracking_errors,
         count_if(attributes_changed AND change = 'unchanged') AS attribute_errors
  FROM audit_changes
  GROUP BY source_job, sequence_id
), entries AS (
  SELECT q.job_name, q.sequence_id,
         CASE WHEN contains(q.reasons, 'missing_box') OR contains(q.reasons, 'overlooked') THEN 'omission'
              WHEN contains(q.reasons, 'off_path') OR contains(q.reasons, 'low_iou') OR contains(q.reasons, 'size_jump')
                   OR contains(q.reasons, 'duplicate_box') OR contains(q.reasons, 'appearance_change')
                   OR contains(q.reasons, 'badly_located') THEN 'inaccurate'
              WHEN contains(q.reasons, 'class_flip') OR contains(q.reasons, 'class_disagrees') THEN 'wrong_label'
              WHEN contains(q.reasons, 'id_swap') OR contains(q.reasons, 'broken_track') THEN 'tracking'
              WHEN contains(q.reasons, 'attribute_flip') THEN 'attributes'
         END AS category
  FROM review_queue q
), flagged AS (
  SELECT m.job_name, m.sequence_id, max(w.worker_id) AS worker_id, 'flags' AS source, max(m.boxes) AS boxes,
         sum(CASE WHEN e.category = 'omission' THEN 1 ELSE 0 END) AS omissions,
         sum(CASE WHEN e.category = 'inaccurate' THEN 1 ELSE 0 END) AS inaccurate,
         sum(CASE WHEN e.category = 'wrong_label' THEN 1 ELSE 0 END) AS wrong_labels,
         sum(CASE WHEN e.category = 'tracking' THEN 1 ELSE 0 END) AS tracking_errors,
         sum(CASE WHEN e.category = 'attributes' THEN 1 ELSE 0 END) AS attribute_errors
  FROM (SELECT job_name, sequence_id, count(*) AS boxes FROM box_metrics GROUP BY job_name, sequence_id) m
  JOIN jobs j ON j.job_name = m.job_name AND j.role <> 'audit'
  LEFT JOIN entries e ON e.job_name = m.job_name AND e.sequence_id = m.sequence_id
  LEFT JOIN (SELECT job_name, sequence_id, max_by(worker_id, submitted_at) AS worker_id
             FROM worker_responses GROUP BY job_name, sequence_id) w
         ON w.job_name = m.job_name AND w.sequence_id = m.sequence_id
  WHERE NOT EXISTS (SELECT 1 FROM audited a WHERE a.job_name = m.job_name AND a.sequence_id = m.sequence_id)
  GROUP BY m.job_name, m.sequence_id
), per_sequence AS (
  SELECT * FROM audited UNION ALL SELECT * FROM flagged
), scored AS (
  SELECT 'sequence' AS level, job_name, sequence_id, worker_id, source, boxes, omissions, inaccurate, wrong_labels,
         tracking_errors, attribute_errors
  FROM per_sequence
  UNION ALL
  SELECT 'job', job_name, NULL, NULL, CASE WHEN min(source) = max(source) THEN min(source) ELSE 'mixed' END,
         sum(boxes), sum(omissions), sum(inaccurate), sum(wrong_labels), sum(tracking_errors), sum(attribute_errors)
  FROM per_sequence GROUP BY job_name
  UNION ALL
  SELECT 'worker', NULL, NULL, worker_id, CASE WHEN min(source) = max(source) THEN min(source) ELSE 'mixed' END,
         sum(boxes), sum(omissions), sum(inaccurate), sum(wrong_labels), sum(tracking_errors), sum(attribute_errors)
  FROM per_sequence WHERE worker_id IS NOT NULL GROUP BY worker_id
)
SELECT level, job_name, sequence_id, worker_id, source, boxes, omissions, inaccurate, wrong_labels, tracking_errors,
       attribute_errors,
       1.0 * omissions + 1.0 * inaccurate + 0.2 * wrong_labels + 0.2 * tracking_errors + 0.05 * attribute_errors
           AS penalty,
       greatest(0.0, 1.0 - (1.0 * omissions + 1.0 * inaccurate + 0.2 * wrong_labels + 0.2 * tracking_errors
                            + 0.05 * attribute_errors) / nullif(boxes, 0)) AS rubric_score
FROM scored
