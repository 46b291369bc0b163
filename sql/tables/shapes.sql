-- Generated from gtlake/schemas.py by `python -m gtlake.lakesql`; do not edit.
CREATE EXTERNAL TABLE IF NOT EXISTS `shapes` (
  `sequence_id` string COMMENT 'Data object of a job: \'<job_name>:<data_object_index>\'',
  `frame_no` int COMMENT 'Ground Truth frame-no, as written (usually 0-based)',
  `frame_file` string COMMENT 'Image file of the frame, relative to the sequence prefix',
  `shape_type` string COMMENT 'polyline / polygon / keypoint',
  `shape_index` int COMMENT 'Position of the shape in the frame\'s list of its type',
  `object_id` string COMMENT 'Ground Truth object-id',
  `object_name` string COMMENT 'Ground Truth object-name',
  `class_id` string COMMENT 'class-id as written',
  `label` string COMMENT 'Class name from the class map',
  `vertices` array<struct<x:double,y:double>> COMMENT 'Points in pixels (one point for a keypoint)',
  `attributes` map<string,string> COMMENT 'label-category-attributes',
  `source_uri` string COMMENT 'Input file the row was read from'
)
COMMENT 'One row per polyline, polygon or keypoint on a frame'
PARTITIONED BY (`job_name` string COMMENT 'Labeling job name, without the labeling-job/ prefix')
STORED AS PARQUET
LOCATION '${lake}/shapes/'
TBLPROPERTIES ('parquet.compression' = 'SNAPPY')
