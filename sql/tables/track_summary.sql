-- Generated from gtlake/schemas.py by `python -m gtlake.lakesql`; do not edit.
CREATE EXTERNAL TABLE IF NOT EXISTS `track_summary` (
  `sequence_id` string COMMENT 'Data object of a job: \'<job_name>:<data_object_index>\'',
  `object_id` string COMMENT 'Ground Truth object-id of the track',
  `object_name` string COMMENT 'Ground Truth object-name, \'<class>:<n>\'',
  `label` string COMMENT 'Most frequent class name of the track',
  `n_boxes` int COMMENT 'Boxes in the track',
  `first_frame` int COMMENT 'First frame_no',
  `last_frame` int COMMENT 'Last frame_no',
  `missing_frames` int COMMENT 'Frames between first and last without a box (gaps, occlusions)',
  `iou_mean` double COMMENT 'Mean frame-to-frame IoU',
  `iou_median` double COMMENT 'Median frame-to-frame IoU',
  `iou_mode` double COMMENT 'Most frequent frame-to-frame IoU, rounded to 0.01 (of those tied, the smallest)',
  `iou_min` double COMMENT 'Lowest frame-to-frame IoU',
  `iou_p10` double COMMENT '10th percentile of frame-to-frame IoU',
  `iou_pred_p10` double COMMENT '10th percentile of iou_pred: how well the track\'s boxes follow its own motion',
  `peer_z` double COMMENT 'Robust z-score of iou_pred_p10 among tracks of the same class and job (negative: worse)',
  `flagged_boxes` int COMMENT 'Boxes of the track with at least one flag',
  `flags` array<string> COMMENT 'Reasons found on the track, with track_outlier when far below its peers'
)
COMMENT 'One row per tracked object of a sequence'
PARTITIONED BY (`job_name` string COMMENT 'Labeling job name, without the labeling-job/ prefix')
STORED AS PARQUET
LOCATION '${lake}/track_summary/'
TBLPROPERTIES ('parquet.compression' = 'SNAPPY')
