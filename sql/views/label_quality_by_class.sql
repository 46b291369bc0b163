-- Per job and class: boxes, tracks, flagged share, median and 10th-percentile frame-to-frame IoU.
SELECT job_name, label,
       count(*) AS boxes,
       count(DISTINCT concat(sequence_id, '/', object_id)) AS tracks,
       count_if(cardinality(flags) > 0) AS flagged_boxes,
       CAST(count_if(cardinality(flags) > 0) AS double) / count(*) AS flagged_share,
       approx_percentile(iou_prev, 0.5) AS iou_median,
       approx_percentile(iou_prev, 0.1) AS iou_p10
FROM box_metrics
GROUP BY job_name, label
