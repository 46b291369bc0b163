-- Generated from gtlake/schemas.py by `python -m gtlake.lakesql`; do not edit.
CREATE EXTERNAL TABLE IF NOT EXISTS `box_metrics` (
  `sequence_id` string COMMENT 'Data object of a job: \'<job_name>:<data_object_index>\'',
  `frame_no` int COMMENT 'Ground Truth frame-no, as written (usually 0-based)',
  `frame_file` string COMMENT 'Image file of the frame, relative to the sequence prefix',
  `object_id` string COMMENT 'Ground Truth object-id of the track',
  `object_name` string COMMENT 'Ground Truth object-name, \'<class>:<n>\'',
  `class_id` string COMMENT 'class-id as written',
  `label` string COMMENT 'Class name',
  `left` double COMMENT 'Left edge, pixels',
  `top` double COMMENT 'Top edge, pixels',
  `width` double COMMENT 'Width, pixels',
  `height` double COMMENT 'Height, pixels',
  `iou_prev` double COMMENT 'IoU with the track\'s previous box (null on its first box)',
  `center_shift` double COMMENT 'Centre distance to the previous box, in box sizes (sqrt of area)',
  `area_change` double COMMENT 'log(area / previous area): +0.22 is 25% larger',
  `aspect_change` double COMMENT 'log(aspect ratio / previous aspect ratio)',
  `gap_before` int COMMENT 'Frames the track was absent just before this box',
  `missing_before` int COMMENT 'Of those, frames where a box is missing (queued as missing_box); 0 for occlusions',
  `residual` double COMMENT 'Largest edge deviation from the track\'s path, in units of its tolerance (> 1: off)',
  `iou_pred` double COMMENT 'IoU with the box the track\'s own motion puts there (its neighbours on either side; camera jerks removed): low when the box, not the object, moved',
  `flags` array<string> COMMENT 'Named reasons the box is suspect: off_path, low_iou, size_jump, class_flip, duplicate_box, id_swap, broken_track, attribute_flip; appearance_change in embedding_metrics (empty: nothing found)',
  `score` double COMMENT 'Suspicion: sum of the reasons\' weights plus severity (README: review score)'
)
COMMENT 'One row per tracked box, with its frame-to-frame metrics and flags'
PARTITIONED BY (`job_name` string COMMENT 'Labeling job name, without the labeling-job/ prefix')
STORED AS PARQUET
LOCATION '${lake}/box_metrics/'
TBLPROPERTIES ('parquet.compression' = 'SNAPPY')
