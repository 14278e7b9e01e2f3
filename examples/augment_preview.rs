//! Writes a grid of augmented renders of one image (for eyeballing the augmentation).
//! Usage: cargo run --release --example augment_preview -- IMAGE SIZE OUT.png
use graft::data::augment::{self, Augment};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let img = graft::data::decode::decode(std::path::Path::new(&args[1]), None)?;
    let size: u32 = args[2].parse()?;
    let aug = Augment {
        shear: 20.0,
        zoom: 0.2,
        flip: true,
    };
    let mut grid = image::RgbImage::new(size * 4, size);
    for k in 0..4u32 {
        let chw = if k == 0 {
            augment::render(
                &img,
                size,
                &Augment::none(),
                None::<&mut rand::rngs::StdRng>,
            )
        } else {
            augment::render(
                &img,
                size,
                &aug,
                Some(&mut augment::item_rng(1, 1, k as u64)),
            )
        };
        let plane = (size * size) as usize;
        for y in 0..size {
            for x in 0..size {
                let i = (y * size + x) as usize;
                grid.put_pixel(
                    k * size + x,
                    y,
                    image::Rgb([chw[i], chw[plane + i], chw[2 * plane + i]]),
                );
            }
        }
    }
    grid.save(&args[3])?;
    Ok(())
}
