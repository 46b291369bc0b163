-- Generated from gtlake/schemas.py by `python -m gtlake.lakesql`; do not edit.
CREATE EXTERNAL TABLE IF NOT EXISTS `review_queue` (
  `sequence_id` string COMMENT 'Data object of a job: \'<job_name>:<data_object_index>\'',
  `frame_no` int COMMENT 'Ground Truth frame-no, as written (usually 0-based)',
  `frame_file` string COMMENT 'Image file of the frame, relative to the sequence prefix',
  `object_id` string COMMENT 'Ground Truth object-id of the track; null for an overlooked object (nobody labeled it: the model\'s box says where it is)',
  `object_name` string COMMENT 'Ground Truth object-name, \'<class>:<n>\'',
  `label` string COMMENT 'Class name',
  `reasons` array<string> COMMENT 'All reasons for this frame and object (missing_box: no box where one is expected; overlooked: an object the model sees that has no label)',
  `score` double COMMENT 'Highest reason score, plus 0.25 per further reason',
  `rank` int COMMENT '1 = review first, within the job',
  `model` string COMMENT 'The model whose predictions gave a reason (gtlake predictions), else null',
  `model_left` double COMMENT 'The model\'s box, left edge (overlooked, badly_located, class_disagrees; else null)',
  `model_top` double COMMENT 'The model\'s box, top edge (overlooked, badly_located, class_disagrees; else null)',
  `model_width` double COMMENT 'The model\'s box, width (overlooked, badly_located, class_disagrees; else null)',
  `model_height` double COMMENT 'The model\'s box, height (overlooked, badly_located, class_disagrees; else null)',
  `source_ref` string COMMENT 'The sequence file of the video',
  `labels_ref` string COMMENT 'The labels file as written in the output manifest'
)
COMMENT 'One row per (frame, object) to audit, most suspect first'
PARTITIONED BY (`job_name` string COMMENT 'Labeling job name, without the labeling-job/ prefix')
STORED AS PARQUET
LOCATION '${lake}/review_queue/'
TBLPROPERTIES ('parquet.compression' = 'SNAPPY')
