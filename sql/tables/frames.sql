-- Generated from gtlake/schemas.py by `python -m gtlake.lakesql`; do not edit.
CREATE EXTERNAL TABLE IF NOT EXISTS `frames` (
  `sequence_id` string COMMENT 'Data object of a job: \'<job_name>:<data_object_index>\'',
  `frame_no` int COMMENT 'Ground Truth frame-no, as written (usually 0-based)',
  `frame_file` string COMMENT 'Image file of the frame, relative to the sequence prefix',
  `frame_attributes` map<string,string> COMMENT 'Frame attributes (values of nested objects as raw JSON); null if absent',
  `shape_count` int COMMENT 'The frame\'s rows in boxes and shapes',
  `listed_shapes` int COMMENT 'Boxes and shapes listed on the frame in its labels, refused ones included',
  `image_width` int COMMENT 'Image width in pixels (image jobs\' image_size; null for video frames)',
  `image_height` int COMMENT 'Image height in pixels (image jobs\' image_size; null for video frames)',
  `source_uri` string COMMENT 'Input file the row was read from'
)
COMMENT 'One row per frame of a sequence listed in its labels file (an image of an image job)'
PARTITIONED BY (`job_name` string COMMENT 'Labeling job name, without the labeling-job/ prefix')
STORED AS PARQUET
LOCATION '${lake}/frames/'
TBLPROPERTIES ('parquet.compression' = 'SNAPPY')
