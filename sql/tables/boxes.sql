-- Generated from gtlake/schemas.py by `python -m gtlake.lakesql`; do not edit.
CREATE EXTERNAL TABLE IF NOT EXISTS `boxes` (
  `sequence_id` string COMMENT 'Data object of a job: \'<job_name>:<data_object_index>\'',
  `frame_no` int COMMENT 'Ground Truth frame-no, as written (usually 0-based)',
  `frame_file` string COMMENT 'Image file of the frame, relative to the sequence prefix',
  `object_id` string COMMENT 'Ground Truth object-id, stable across the frames of a track (null in detection and image jobs)',
  `object_name` string COMMENT 'Ground Truth object-name, \'<class>:<n>\'',
  `class_id` string COMMENT 'class-id as written',
  `label` string COMMENT 'Class name from the class map',
  `left` double COMMENT 'Left edge, pixels',
  `top` double COMMENT 'Top edge, pixels',
  `width` double COMMENT 'Width, pixels (> 0)',
  `height` double COMMENT 'Height, pixels (> 0)',
  `attributes` map<string,string> COMMENT 'label-category-attributes (nested values as raw JSON)',
  `box_index` int COMMENT 'Position of the box in the frame\'s list',
  `source_uri` string COMMENT 'Input file the row was read from'
)
COMMENT 'One row per bounding box on a frame'
PARTITIONED BY (`job_name` string COMMENT 'Labeling job name, without the labeling-job/ prefix')
STORED AS PARQUET
LOCATION '${lake}/boxes/'
TBLPROPERTIES ('parquet.compression' = 'SNAPPY')
