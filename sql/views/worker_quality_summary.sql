-- Per worker over all jobs: boxes, flagged share, adjustment rate, identity switches, MOTA and IDF1 (from sums).
-- order: worker_id
SELECT worker_id, sum(boxes) AS boxes,
       CAST(sum(flagged_boxes) AS double) / nullif(sum(boxes), 0) AS flagged_rate,
       sum(audited_boxes) AS audited_boxes,
       CAST(sum(adjusted_boxes) + sum(added) AS double) / nullif(sum(audited_boxes) + sum(added), 0) AS adjustment_rate,
       sum(id_switches) AS id_switches, sum(fragmentations) AS fragmentations,
       1 - CAST(sum(misses) + sum(false_positives) + sum(id_switches) AS double) / nullif(sum(gt_boxes), 0) AS mota,
       2.0 * sum(idtp) / nullif(sum(gt_boxes) + sum(audited_boxes), 0) AS idf1
FROM worker_quality
WHERE worker_id IS NOT NULL
GROUP BY worker_id
