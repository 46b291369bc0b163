-- Per object track (and its job's role): its IoU distribution, gaps and flags, worst first within a job.
-- order: job_name, flagged_share DESC, iou_p10, sequence_id, object_id
SELECT t.job_name, coalesce(j.role, 'labeling') AS job_role, t.sequence_id, t.object_id, t.object_name, t.label,
       t.n_boxes, t.first_frame, t.last_frame, t.missing_frames,
       t.iou_mean, t.iou_median, t.iou_p10, t.iou_min, t.peer_z, t.flagged_boxes,
       CAST(t.flagged_boxes AS double) / t.n_boxes AS flagged_share,
       array_join(t.flags, ',') AS flags,
       cardinality(t.flags) > 0 AS flagged
FROM track_summary t
LEFT JOIN jobs j ON j.job_name = t.job_name
