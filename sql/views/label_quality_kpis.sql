-- One row: boxes, sequences and tracks scored, the share of boxes flagged, and the median frame-to-frame IoU.
SELECT count(*) AS boxes,
       count(DISTINCT concat(job_name, '/', sequence_id)) AS sequences,
       count(DISTINCT concat(job_name, '/', sequence_id, '/', object_id)) AS tracks,
       CAST(count_if(cardinality(flags) > 0) AS double) / nullif(count(*), 0) AS flagged_share,
       approx_percentile(iou_prev, 0.5) AS iou_median
FROM box_metrics
