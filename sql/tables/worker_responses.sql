-- Generated from gtlake/schemas.py by `python -m gtlake.lakesql`; do not edit.
CREATE EXTERNAL TABLE IF NOT EXISTS `worker_responses` (
  `sequence_id` string COMMENT 'Data object of a job: \'<job_name>:<data_object_index>\'',
  `data_object_index` int COMMENT 'Data object the answer is for',
  `iteration` int COMMENT 'iteration-<n> of the response',
  `answer_index` int COMMENT 'Position of the answer in the file',
  `worker_id` string COMMENT 'workerId, e.g. private.us-east-1.47a0115a1f1786e9',
  `cognito_sub` string COMMENT 'Cognito sub of the worker (join key to the WorkerActivity log)',
  `identity_issuer` string COMMENT 'Identity provider issuer URL',
  `accepted_at` timestamp COMMENT 'acceptanceTime (null in older files)',
  `submitted_at` timestamp COMMENT 'submissionTime',
  `active_seconds` double COMMENT 'timeSpentInSeconds: active time, pauses excluded (null in older files)',
  `wall_seconds` double COMMENT 'submitted_at - accepted_at',
  `answer_content` string COMMENT 'answerContent, raw JSON',
  `source_uri` string COMMENT 'Input file the row was read from'
)
COMMENT 'One row per worker answer in a worker-response file'
PARTITIONED BY (`job_name` string COMMENT 'Labeling job name, without the labeling-job/ prefix')
STORED AS PARQUET
LOCATION '${lake}/worker_responses/'
TBLPROPERTIES ('parquet.compression' = 'SNAPPY')
