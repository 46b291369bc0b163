-- Generated from gtlake/schemas.py by `python -m gtlake.lakesql`; do not edit.
CREATE EXTERNAL TABLE IF NOT EXISTS `predictions` (
  `sequence_id` string COMMENT 'Data object of a job: \'<job_name>:<data_object_index>\'',
  `frame_no` int COMMENT 'Ground Truth frame-no, as written (usually 0-based)',
  `label` string COMMENT 'Class the model predicted (a class name of the job)',
  `score` double COMMENT 'The model\'s confidence, 0 to 1',
  `left` double COMMENT 'Left edge, pixels',
  `top` double COMMENT 'Top edge, pixels',
  `width` double COMMENT 'Width, pixels (> 0)',
  `height` double COMMENT 'Height, pixels (> 0)',
  `track_id` string COMMENT 'The model\'s track id, when it tracks (null for a detector)',
  `model` string COMMENT 'The model\'s name, as given to gtlake predictions (--model)',
  `source_uri` string COMMENT 'Input file the row was read from'
)
COMMENT 'One row per box a model predicted on a frame (gtlake predictions)'
PARTITIONED BY (`job_name` string COMMENT 'Labeling job name, without the labeling-job/ prefix')
STORED AS PARQUET
LOCATION '${lake}/predictions/'
TBLPROPERTIES ('parquet.compression' = 'SNAPPY')
