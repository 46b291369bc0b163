-- Generated from gtlake/schemas.py by `python -m gtlake.lakesql`; do not edit.
CREATE EXTERNAL TABLE IF NOT EXISTS `rejected` (
  `run_id` string COMMENT 'Run that refused the record',
  `source_uri` string COMMENT 'Input file the row was read from',
  `locator` string COMMENT 'Where in the file: line, frame, object',
  `record_kind` string COMMENT 'job_folder / sequence / labels_file / frame / box / shape / worker_response_file / worker_answer / activity_file / worker_event / audit_sequence / verdicts_file / verdict',
  `reason_code` string COMMENT 'Why it was refused (see README: reason codes)',
  `detail` string COMMENT 'What was expected and what was found',
  `record` string COMMENT 'The refused record, raw (cut at 2000 characters)'
)
COMMENT 'One row per input record refused, with the reason'
PARTITIONED BY (`job_name` string COMMENT 'Labeling job the record belongs to; _input / _activity when it names none', `step` string COMMENT 'Step that refused it: ingest, workers, audit or verdicts (each step owns its partitions)')
STORED AS PARQUET
LOCATION '${lake}/rejected/'
TBLPROPERTIES ('parquet.compression' = 'SNAPPY')
