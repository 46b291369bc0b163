-- Generated from gtlake/schemas.py by `python -m gtlake.lakesql`; do not edit.
CREATE EXTERNAL TABLE IF NOT EXISTS `worker_events` (
  `worker_id` string COMMENT 'Worker: the workerId of worker responses (private.<region>.<id>) when the Cognito sub is known there, else the log\'s worker_id',
  `log_worker_id` string COMMENT 'worker_id as the log writes it',
  `cognito_sub` string COMMENT 'cognito_sub_id: join key to worker_responses',
  `cognito_user_pool_id` string COMMENT 'Cognito user pool of the work team',
  `workteam` string COMMENT 'Work team name (last part of workteam_arn)',
  `workteam_arn` string COMMENT 'workteam_arn as logged',
  `labeling_job_arn` string COMMENT 'labeling_job_arn as logged',
  `event_type` string COMMENT 'TasksSubmitted, TasksReturned, TasksDeclined, ... as logged',
  `accepted_at` timestamp COMMENT 'Task accepted (UTC)',
  `submitted_at` timestamp COMMENT 'Task submitted (UTC)',
  `returned_at` timestamp COMMENT 'Task returned (UTC)',
  `declined_at` timestamp COMMENT 'Task declined (UTC)',
  `event_time` timestamp COMMENT 'event_timestamp (epoch seconds) as UTC time',
  `job_reference_code` string COMMENT 'job_reference_code as logged',
  `event_key` string COMMENT 'sha256 of the raw message: one row per distinct event, however often it is read',
  `source_uri` string COMMENT 'Export file, or cloudwatch://<log group>/<log stream>',
  `locator` string COMMENT 'Line of the file, or the CloudWatch event id'
)
COMMENT 'One row per WorkerActivity log event'
PARTITIONED BY (`job_name` string COMMENT 'Labeling job name, without the labeling-job/ prefix')
STORED AS PARQUET
LOCATION '${lake}/worker_events/'
TBLPROPERTIES ('parquet.compression' = 'SNAPPY')
