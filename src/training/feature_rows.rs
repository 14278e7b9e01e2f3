//! The frozen blocks' outputs, one f16 row per image, kept in an unnamed file on disk and read
//! back a batch at a time, so that the process holds one batch of them whatever the dataset's
//! size. While memory is free the kernel's page cache keeps the file in RAM, and a read is a
//! copy; when it is not, the pages go and are read from disk again, instead of the process
//! growing past what the machine has. (A memory map would count every page read into the
//! process's resident size; positioned reads keep the bound visible.)
use anyhow::{Context, Result};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

/// Rows of equal shape, appended in order and read back by index.
pub struct FeatureRows {
    file: File,
    dir: PathBuf,
    /// Shape of one row (its first dimension dropped); set by the first push of rows.
    row_shape: Vec<i64>,
    row_bytes: usize,
    rows: usize,
}

impl FeatureRows {
    /// An empty store in a file under `dir` (created if missing) that is deleted from the
    /// file system at once: nothing is left behind, whether the run ends or is killed.
    pub fn create(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating {} for the feature cache", dir.display()))?;
        let file = tempfile::tempfile_in(dir)
            .with_context(|| format!("creating the feature cache file in {}", dir.display()))?;
        Ok(Self {
            file,
            dir: dir.to_path_buf(),
            row_shape: Vec::new(),
            row_bytes: 0,
            rows: 0,
        })
    }

    /// Appends the rows of `feats` ([n, ...], any kind and device; stored as f16).
    pub fn push(&mut self, feats: &Tensor) -> Result<()> {
        let feats = feats
            .to_kind(Kind::Half)
            .to_device(Device::Cpu)
            .contiguous();
        let shape = feats.size();
        let (n, row_shape) = (shape[0] as usize, shape[1..].to_vec());
        if self.rows == 0 {
            self.row_bytes = 2 * row_shape.iter().product::<i64>() as usize;
            self.row_shape = row_shape;
        } else if row_shape != self.row_shape {
            anyhow::bail!(
                "feature rows of shape {row_shape:?} pushed to a cache of {:?}",
                self.row_shape
            );
        }
        let mut bytes = vec![0u8; n * self.row_bytes];
        feats.f_copy_data_u8(&mut bytes, feats.numel())?;
        let offset = (self.rows * self.row_bytes) as u64;
        self.file.write_all_at(&bytes, offset).with_context(|| {
            format!(
                "writing the feature cache in {} ({} MB so far)",
                self.dir.display(),
                offset >> 20
            )
        })?;
        self.rows += n;
        Ok(())
    }

    /// Number of rows stored.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether none are.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The rows at `idx`, in that order, as one f16 tensor [idx.len(), ...] on the CPU.
    pub fn gather(&self, idx: &[usize]) -> Result<Tensor> {
        let rb = self.row_bytes;
        let mut bytes = vec![0u8; idx.len() * rb];
        for (slot, &i) in bytes.chunks_exact_mut(rb.max(1)).zip(idx) {
            anyhow::ensure!(i < self.rows, "feature row {i} of {}", self.rows);
            self.file
                .read_exact_at(slot, (i * rb) as u64)
                .with_context(|| format!("reading the feature cache in {}", self.dir.display()))?;
        }
        let mut shape = vec![idx.len() as i64];
        shape.extend_from_slice(&self.row_shape);
        Ok(Tensor::f_from_data_size(&bytes, &shape, Kind::Half)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_read_back_in_any_order_as_pushed() {
        let dir = tempfile::tempdir().unwrap();
        let mut rows = FeatureRows::create(&dir.path().join("cache")).unwrap();
        let a = Tensor::randn([3, 4, 2, 2], (Kind::Float, Device::Cpu));
        let b = Tensor::randn([2, 4, 2, 2], (Kind::Float, Device::Cpu));
        rows.push(&a).unwrap();
        rows.push(&b).unwrap();
        assert_eq!(rows.len(), 5);
        let all = Tensor::cat(&[&a, &b], 0).to_kind(Kind::Half);
        let idx = [4usize, 0, 2, 2];
        let got = rows.gather(&idx).unwrap();
        let want = all.index_select(0, &Tensor::from_slice(&[4i64, 0, 2, 2]));
        assert_eq!(got.size(), vec![4, 4, 2, 2]);
        assert!(got.equal(&want));
        // The file is unnamed: the folder holds nothing.
        assert_eq!(
            std::fs::read_dir(dir.path().join("cache")).unwrap().count(),
            0
        );
        // A row shape that differs, or an index past the end, is refused.
        assert!(
            rows.push(&Tensor::zeros([1, 4, 3, 3], (Kind::Float, Device::Cpu)))
                .is_err()
        );
        assert!(rows.gather(&[5]).is_err());
    }

    #[test]
    fn channels_last_rows_are_stored_by_value() {
        let dir = tempfile::tempdir().unwrap();
        let mut rows = FeatureRows::create(dir.path()).unwrap();
        let x = Tensor::randn([2, 3, 4, 5], (Kind::Float, Device::Cpu));
        // NHWC strides over NCHW values, as the frozen blocks return them.
        let cl = x.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2]);
        rows.push(&cl).unwrap();
        assert!(rows.gather(&[0, 1]).unwrap().equal(&x.to_kind(Kind::Half)));
    }
}
