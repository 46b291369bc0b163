-- Generated from gtlake/schemas.py by `python -m gtlake.lakesql`; do not edit.
CREATE EXTERNAL TABLE IF NOT EXISTS `review_queue` (
  `sequence_id` string COMMENT 'Data object of a job: \'<job_name>:<data_object_index>\'',
  `frame_no` int COMMENT 'Ground Truth frame-no, as written (usually 0-based)',
  `frame_file` string COMMENT 'Image file of the frame, relative to the sequence prefix',
  `object_id` string COMMENT 'Ground Truth object-id of the track',
  `object_name` string COMMENT 'Ground Truth object-name, \'<class>:<n>\'',
  `label` string COMMENT 'Class name',
  `reasons` array<string> COMMENT 'All reasons for this frame and object (missing_box: no box where one is expected)',
  `score` double COMMENT 'Highest reason score, plus 0.25 per further reason',
  `rank` int COMMENT '1 = review first, within the job',
  `source_ref` string COMMENT 'The sequence file of the video',
  `labels_ref` string COMMENT 'The labels file as written in the output manifest'
)
COMMENT 'One row per (frame, object) to audit, most suspect first'
PARTITIONED BY (`job_name` string COMMENT 'Labeling job name, without the labeling-job/ prefix')
STORED AS PARQUET
LOCATION '${lake}/review_queue/'
TBLPROPERTIES ('parquet.compression' = 'SNAPPY')
