"""dicomkit: any folder of DICOM files, back into Patient → Study → Series → Instance."""

__version__ = "0.1.0"
