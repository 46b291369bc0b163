-- Per job role (labeling, or audit: the post-audit check): boxes, sequences and tracks scored, the share of boxes flagged, and the median frame-to-frame IoU.
-- order: job_role
SELECT coalesce(j.role, 'labeling') AS job_role,
       count(*) AS boxes,
       count(DISTINCT concat(m.job_name, '/', m.sequence_id)) AS sequences,
       count(DISTINCT concat(m.job_name, '/', m.sequence_id, '/', m.object_id)) AS tracks,
       CAST(count_if(cardinality(m.flags) > 0) AS double) / nullif(count(*), 0) AS flagged_share,
       approx_percentile(m.iou_prev, 0.5) AS iou_median
FROM box_metrics m
LEFT JOIN jobs j ON j.job_name = m.job_name
GROUP BY coalesce(j.role, 'labeling')
