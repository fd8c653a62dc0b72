//! The image registry: base disks, kernels and initrds that operators place in a pool's image
//! directory and register with their checksum and size. Templates refer to images by id; no host path
//! ever comes from a tenant.

use crate::{ImageId, PoolId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use validator::Validate;

/// What an image is used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ImageKind {
    /// A bootable disk: each appliance gets a copy-on-write overlay of it.
    Disk,
    /// A kernel for direct kernel boot.
    Kernel,
    /// An initial ramdisk for direct kernel boot.
    Initrd,
}

impl ImageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disk => "disk",
            Self::Kernel => "kernel",
            Self::Initrd => "initrd",
        }
    }
}

impl std::str::FromStr for ImageKind {
    type Err = crate::roles::UnknownVariant;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "disk" => Ok(Self::Disk),
            "kernel" => Ok(Self::Kernel),
            "initrd" => Ok(Self::Initrd),
            _ => Err(crate::roles::UnknownVariant {
                what: "image kind",
                value: s.into(),
            }),
        }
    }
}

/// The on-disk format of an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ImageFormat {
    Qcow2,
    Raw,
}

impl ImageFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Qcow2 => "qcow2",
            Self::Raw => "raw",
        }
    }
}

impl std::str::FromStr for ImageFormat {
    type Err = crate::roles::UnknownVariant;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "qcow2" => Ok(Self::Qcow2),
            "raw" => Ok(Self::Raw),
            _ => Err(crate::roles::UnknownVariant {
                what: "image format",
                value: s.into(),
            }),
        }
    }
}

/// Register an image that the operator has put into the pool's image directory on every host.
#[derive(Clone, Debug, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateImageRequest {
    #[validate(custom(function = "crate::validate::name"))]
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 100,
            pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
        )
    )]
    pub name: String,
    pub kind: ImageKind,
    /// `qcow2` or `raw` for disks; kernels and initrds are `raw`.
    pub format: ImageFormat,
    /// The file's name inside the pool's image directory (no directory part).
    #[validate(custom(function = "crate::validate::image_file"))]
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 255,
            pattern = r"^[A-Za-z0-9_+-][A-Za-z0-9._+-]*$"
        )
    )]
    pub file: String,
    /// SHA-256 of the file, checked by the driver before a host uses it.
    #[validate(custom(function = "crate::validate::sha256_hex"))]
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[0-9a-f]{64}$"))]
    pub sha256: String,
    /// The file's size in bytes.
    #[validate(range(min = 1, max = 17_592_186_044_416_u64))]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 1, maximum = 17_592_186_044_416_i64)
    )]
    pub size_bytes: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImageResponse {
    pub id: ImageId,
    pub pool_id: PoolId,
    pub name: String,
    pub kind: ImageKind,
    pub format: ImageFormat,
    /// The file in the pool's image directory; shown to operators only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    pub sha256: String,
    pub size_bytes: u64,
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub created_at: DateTime<Utc>,
}
