"""Loaders for the public datasets, returning plain numpy samples (no torch).

* :mod:`.stacom` - STACOM LV landmark challenge (Cardiac Atlas Project), DICOM + Annotations.txt
* :mod:`.acdc` - ACDC short-axis stacks with the RV-insertion labels of Koehler et al.
* :mod:`.adaptor` - AdaptOR 2021 suture points, labelme stereo files, submission JSON
* :mod:`.splits` - patient/surgery-level train/val/test and k-fold splits
* :mod:`.report` - what an iteration loaded and skipped (nothing is dropped silently)

All 2D points are ``(x=column, y=row)`` 0-based pixels at pixel centres.
"""
from .acdc import AcdcInfo, AcdcSample, iter_acdc_dataset, load_acdc_patient, parse_info_cfg
from .adaptor import (
    AdaptorFrame,
    SubmissionEntry,
    SutureSample,
    iter_adaptor_dataset,
    list_adaptor_frames,
    load_adaptor_frame,
    read_labelme_stereo,
    read_point_labels,
    read_submission_json,
    write_submission_json,
)
from .common import LandmarkSample, points_array
from .report import DatasetReport, SkippedItem
from .splits import (
    ADAPTOR_FOLDS,
    GroupSplit,
    adaptor_folds,
    kfold_splits,
    stratified_split,
    train_val_test_split,
    unique_groups,
)
from .stacom import StacomAnnotations, StacomSample, iter_stacom_dataset, load_stacom_study, parse_annotations

__all__ = [
    "ADAPTOR_FOLDS",
    "AcdcInfo",
    "AcdcSample",
    "AdaptorFrame",
    "DatasetReport",
    "GroupSplit",
    "LandmarkSample",
    "SkippedItem",
    "StacomAnnotations",
    "StacomSample",
    "SubmissionEntry",
    "SutureSample",
    "adaptor_folds",
    "iter_acdc_dataset",
    "iter_adaptor_dataset",
    "iter_stacom_dataset",
    "kfold_splits",
    "list_adaptor_frames",
    "load_acdc_patient",
    "load_adaptor_frame",
    "load_stacom_study",
    "parse_annotations",
    "parse_info_cfg",
    "points_array",
    "read_labelme_stereo",
    "read_point_labels",
    "read_submission_json",
    "stratified_split",
    "train_val_test_split",
    "unique_groups",
    "write_submission_json",
]
