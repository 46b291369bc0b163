-- Per job and class (and the job's role): boxes, tracks, flagged share, median and 10th-percentile frame-to-frame IoU.
-- order: job_name, label
SELECT m.job_name, coalesce(j.role, 'labeling') AS job_role, m.label,
       count(*) AS boxes,
       count(DISTINCT concat(m.sequence_id, '/', m.object_id)) AS tracks,
       count_if(cardinality(m.flags) > 0) AS flagged_boxes,
       CAST(count_if(cardinality(m.flags) > 0) AS double) / count(*) AS flagged_share,
       approx_percentile(m.iou_prev, 0.5) AS iou_median,
       approx_percentile(m.iou_prev, 0.1) AS iou_p10
FROM box_metrics m
LEFT JOIN jobs j ON j.job_name = m.job_name
GROUP BY m.job_name, coalesce(j.role, 'labeling'), m.label
