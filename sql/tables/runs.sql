-- Generated from gtlake/schemas.py by `python -m gtlake.lakesql`; do not edit.
CREATE EXTERNAL TABLE IF NOT EXISTS `runs` (
  `run_id` string COMMENT 'Run id: UTC start time and a random suffix',
  `job` string COMMENT 'Which job ran: ingest, ...',
  `started_at` timestamp COMMENT 'Start (UTC)',
  `finished_at` timestamp COMMENT 'End (UTC)',
  `records_in` bigint COMMENT 'Input records read',
  `records_out` bigint COMMENT 'Records written to lake tables',
  `records_rejected` bigint COMMENT 'Records written to rejected; in = out + rejected',
  `status` string COMMENT 'succeeded / no_new_input / failed',
  `input_uri` string COMMENT 'Input root',
  `jobs_processed` array<string> COMMENT 'Labeling jobs (re)written by this run',
  `counts` string COMMENT 'Per record kind: in / out / rejected, JSON',
  `message` string COMMENT 'Why a failed run failed; null otherwise'
)
COMMENT 'One row per run of a gtlake job'
STORED AS PARQUET
LOCATION '${lake}/runs/'
TBLPROPERTIES ('parquet.compression' = 'SNAPPY')
