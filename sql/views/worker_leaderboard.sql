-- Speed and quality side by side: boxes per active hour and median task time against adjustment rate and IDF1.
-- order: quality_rank
WITH speed AS (
  SELECT t.worker_id, sum(t.active_seconds) AS active_seconds, approx_percentile(t.wall_seconds, 0.5) AS wall_median_s
  FROM worker_tasks t WHERE t.outcome = 'submitted' GROUP BY t.worker_id
), quality AS (
  SELECT worker_id, sum(boxes) AS boxes, sum(audited_boxes) AS audited_boxes,
         CAST(sum(adjusted_boxes) + sum(added) AS double) / nullif(sum(audited_boxes) + sum(added), 0) AS adjustment_rate,
         sum(id_switches) AS id_switches,
         2.0 * sum(idtp) / nullif(sum(gt_boxes) + sum(audited_boxes), 0) AS idf1
  FROM worker_quality WHERE worker_id IS NOT NULL GROUP BY worker_id
)
SELECT q.worker_id, q.boxes, s.active_seconds / 3600.0 AS active_hours,
       q.boxes / nullif(s.active_seconds / 3600.0, 0) AS boxes_per_hour, s.wall_median_s,
       q.adjustment_rate, q.id_switches, q.idf1,
       row_number() OVER (ORDER BY q.adjustment_rate ASC NULLS LAST, q.worker_id) AS quality_rank
FROM quality q LEFT JOIN speed s ON s.worker_id = q.worker_id
