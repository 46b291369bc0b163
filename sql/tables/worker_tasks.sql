-- Generated from gtlake/schemas.py by `python -m gtlake.lakesql`; do not edit.
CREATE EXTERNAL TABLE IF NOT EXISTS `worker_tasks` (
  `worker_id` string COMMENT 'Worker: the workerId of worker responses (private.<region>.<id>) when the Cognito sub is known there, else the log\'s worker_id',
  `cognito_sub` string COMMENT 'Cognito sub of the worker',
  `data_object_index` int COMMENT 'Data object of the job (null for returned/declined tasks: the log does not say)',
  `sequence_id` string COMMENT 'Data object of a job: \'<job_name>:<data_object_index>\'',
  `workteam` string COMMENT 'Work team name',
  `outcome` string COMMENT 'submitted / returned / declined (event type otherwise, lower case)',
  `accepted_at` timestamp COMMENT 'Task accepted (UTC)',
  `finished_at` timestamp COMMENT 'Submitted, returned or declined (UTC)',
  `wall_seconds` double COMMENT 'finished_at - accepted_at, seconds (the response\'s millisecond times when known)',
  `active_seconds` double COMMENT 'timeSpentInSeconds of the worker response: pauses excluded',
  `source` string COMMENT 'log+response, log (no response matched) or response (the log missed it)',
  `event_key` string COMMENT 'worker_events row of the task, if any'
)
COMMENT 'One row per task a worker touched: an activity event and/or a worker response'
PARTITIONED BY (`job_name` string COMMENT 'Labeling job name, without the labeling-job/ prefix')
STORED AS PARQUET
LOCATION '${lake}/worker_tasks/'
TBLPROPERTIES ('parquet.compression' = 'SNAPPY')
