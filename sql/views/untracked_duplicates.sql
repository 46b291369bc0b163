-- Boxes without an object id (video detection and image jobs) overlapping another box of their class on the same frame or image with IoU >= 0.7 (the quality job's duplicate_iou): one object boxed twice.
-- order: job_name, sequence_id, frame_no, box_index, other_box_index
WITH pairs AS (
  SELECT a.job_name, a.sequence_id, a.frame_no, a.frame_file, a.label, a.box_index, b.box_index AS other_box_index,
         greatest(0.0, least(a."left" + a.width, b."left" + b.width) - greatest(a."left", b."left"))
         * greatest(0.0, least(a."top" + a.height, b."top" + b.height) - greatest(a."top", b."top")) AS overlap,
         a.width * a.height + b.width * b.height AS areas
  FROM boxes a
  JOIN boxes b ON b.job_name = a.job_name AND b.sequence_id = a.sequence_id AND b.frame_no = a.frame_no
                  AND b.class_id = a.class_id AND b.box_index > a.box_index
  WHERE a.object_id IS NULL AND b.object_id IS NULL
)
SELECT job_name, sequence_id, frame_no, frame_file, label, box_index, other_box_index,
       overlap / (areas - overlap) AS iou
FROM pairs
WHERE overlap / (areas - overlap) >= 0.7
