-- Generated from gtlake/schemas.py by `python -m gtlake.lakesql`; do not edit.
CREATE EXTERNAL TABLE IF NOT EXISTS `validations` (
  `run_id` string COMMENT 'Run that checked it',
  `step` string COMMENT 'Which command checked it: validate, ingest, workers, quality, audit or verdicts',
  `scope` string COMMENT 'Which rows: lake (committed, by validate), input (read by the run), output (staged by the run, before its commit)',
  `table_name` string COMMENT 'Lake table checked',
  `column_name` string COMMENT 'Column (or columns) the rule is about; null for table-level rules such as the schema',
  `rule` string COMMENT 'The rule: schema, type ..., not null, unique key, values >= ..., allowed values, exists in ...',
  `success` boolean COMMENT 'True when every row keeps the rule',
  `unexpected_count` bigint COMMENT 'Rows breaking the rule, where it counts rows',
  `detail` string COMMENT 'What broke it, with a few example values; empty on success (for a sealed input, the runs that validated its files)',
  `validated_at` timestamp COMMENT 'When (UTC)'
)
COMMENT 'One row per data-quality rule checked on a lake table by a run (Great Expectations)'
STORED AS PARQUET
LOCATION '${lake}/validations/'
TBLPROPERTIES ('parquet.compression' = 'SNAPPY')
