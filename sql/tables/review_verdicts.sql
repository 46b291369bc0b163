-- Generated from gtlake/schemas.py by `python -m gtlake.lakesql`; do not edit.
CREATE EXTERNAL TABLE IF NOT EXISTS `review_verdicts` (
  `sequence_id` string COMMENT 'Data object of a job: \'<job_name>:<data_object_index>\'',
  `frame_no` int COMMENT 'Ground Truth frame-no, as written (usually 0-based)',
  `object_id` string COMMENT 'Ground Truth object-id of the entry\'s track; null for an overlooked object',
  `model_left` double COMMENT 'The model\'s box, left edge of an overlooked entry (it tells two apart on one frame), else null',
  `model_top` double COMMENT 'The model\'s box, top edge of an overlooked entry (it tells two apart on one frame), else null',
  `model_width` double COMMENT 'The model\'s box, width of an overlooked entry (it tells two apart on one frame), else null',
  `model_height` double COMMENT 'The model\'s box, height of an overlooked entry (it tells two apart on one frame), else null',
  `reasons` array<string> COMMENT 'The entry\'s reasons on the page the reviewer judged',
  `score` double COMMENT 'The entry\'s score on that page',
  `queue_rank` int COMMENT 'The entry\'s rank on that page',
  `verdict` string COMMENT 'mistake (the labels are wrong here), fine (they are right), unsure',
  `reviewer` string COMMENT 'Who judged it: the name entered on the review page',
  `decided_at` timestamp COMMENT 'When the verdict was given (UTC); a later verdict of the same reviewer replaces it',
  `queue_run_id` string COMMENT 'The quality run whose queue the page showed',
  `verdicts_file` string COMMENT 'sha256 (16 hex) of the verdicts file it came from',
  `imported_run_id` string COMMENT 'The gtlake verdicts run that stored it',
  `source_uri` string COMMENT 'Input file the row was read from'
)
COMMENT 'One row per reviewer\'s verdict on a review-queue entry (gtlake verdicts)'
PARTITIONED BY (`job_name` string COMMENT 'Labeling job name, without the labeling-job/ prefix')
STORED AS PARQUET
LOCATION '${lake}/review_verdicts/'
TBLPROPERTIES ('parquet.compression' = 'SNAPPY')
