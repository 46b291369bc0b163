-- Per object track: its IoU distribution, gaps and flags, worst first within a job.
SELECT job_name, sequence_id, object_id, object_name, label, n_boxes, first_frame, last_frame, missing_frames,
       iou_mean, iou_median, iou_p10, iou_min, peer_z, flagged_boxes,
       CAST(flagged_boxes AS double) / n_boxes AS flagged_share,
       array_join(flags, ',') AS flags,
       cardinality(flags) > 0 AS flagged
FROM track_summary
