-- How often each review-queue reason was right: of the entries reviewers judged (gtlake verdicts), the share found to be mistakes, per job and day (unsure verdicts are counted, not in the precision; an entry with two reasons counts for both).
-- order: job_name, reason, decided_day
SELECT v.job_name, r.reason, CAST(v.decided_at AS date) AS decided_day,
       count(*) AS judged,
       CAST(count_if(v.verdict = 'mistake') AS bigint) AS mistakes,
       CAST(count_if(v.verdict = 'fine') AS bigint) AS fine,
       CAST(count_if(v.verdict = 'unsure') AS bigint) AS unsure,
       CAST(count_if(v.verdict = 'mistake') AS double) / nullif(count_if(v.verdict <> 'unsure'), 0) AS measured_precision
FROM review_verdicts v
CROSS JOIN UNNEST(v.reasons) AS r (reason)
GROUP BY v.job_name, r.reason, CAST(v.decided_at AS date)
