-- Generated from gtlake/schemas.py by `python -m gtlake.lakesql`; do not edit.
CREATE EXTERNAL TABLE IF NOT EXISTS `embedding_metrics` (
  `sequence_id` string COMMENT 'Data object of a job: \'<job_name>:<data_object_index>\'',
  `frame_no` int COMMENT 'Ground Truth frame-no, as written (usually 0-based)',
  `frame_file` string COMMENT 'Image file of the frame, relative to the sequence prefix',
  `object_id` string COMMENT 'Ground Truth object-id of the track',
  `object_name` string COMMENT 'Ground Truth object-name, \'<class>:<n>\'',
  `label` string COMMENT 'Class name',
  `image_uri` string COMMENT 'Frame image read: the sequence file\'s prefix + frame_file (under --frames-root if given)',
  `crop_status` string COMMENT 'ok, image_missing, image_unreadable, or outside_image (no pixel of the box in the image)',
  `crop_clipped` double COMMENT 'Share of the box\'s area outside the image (cut off before resizing)',
  `appearance_distance` double COMMENT 'Cosine distance between this crop\'s embedding and the track\'s previous crop\'s (null on a track\'s first box, after an occlusion, or without a crop)',
  `appearance_skip` double COMMENT 'Cosine distance between the previous and the next crop (tells a one-frame spike from a lasting change)',
  `appearance_z` double COMMENT 'Robust z-score of appearance_distance over the box\'s baseline (track and local median)',
  `flags` array<string> COMMENT 'Named reasons the box is suspect: off_path, low_iou, size_jump, class_flip, duplicate_box, id_swap, broken_track, attribute_flip; appearance_change in embedding_metrics (empty: nothing found)',
  `score` double COMMENT 'Weight of the appearance_change reason when flagged, else 0',
  `model` string COMMENT 'sha256 (16 hex) of the weights file that made the embeddings'
)
COMMENT 'One row per tracked box whose crop was embedded (gtlake embed)'
PARTITIONED BY (`job_name` string COMMENT 'Labeling job name, without the labeling-job/ prefix')
STORED AS PARQUET
LOCATION '${lake}/embedding_metrics/'
TBLPROPERTIES ('parquet.compression' = 'SNAPPY')
