-- Generated from gtlake/schemas.py by `python -m gtlake.lakesql`; do not edit.
CREATE EXTERNAL TABLE IF NOT EXISTS `jobs` (
  `role` string COMMENT 'labeling (video tracking), audit (adjusts or verifies another job\'s labels), detection (video detection) or image',
  `task_type` string COMMENT 'Ground Truth task type of the job\'s own labels (the most frequent)',
  `audited_job` string COMMENT 'For an audit job: the job whose labels it reviews (chained in its manifest)',
  `created_at` timestamp COMMENT 'Earliest creation-date of the job\'s own labels (UTC)',
  `sequences` int COMMENT 'Data objects in its output manifest',
  `labeled_sequences` int COMMENT 'Of those, data objects with labels of the job\'s own',
  `frames` bigint COMMENT 'Rows in frames',
  `boxes` bigint COMMENT 'Rows in boxes',
  `manifest_uri` string COMMENT 'The output manifest read',
  `run_id` string COMMENT 'Ingest run that read it'
)
COMMENT 'One row per labeling job read from the input'
PARTITIONED BY (`job_name` string COMMENT 'Labeling job name, without the labeling-job/ prefix')
STORED AS PARQUET
LOCATION '${lake}/jobs/'
TBLPROPERTIES ('parquet.compression' = 'SNAPPY')
