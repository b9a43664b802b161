#include "ftl/train/run_log.h"

#include <spdlog/fmt/fmt.h>

#include "ftl/util/text.h"

namespace ftl {
namespace {

// The policy of data.auto_augment as the log names it, with a leading ", "; "" when none.
std::string describe_auto_augment(const Augment& augment) {
  const RandAugment& rand = augment.rand_augment;
  switch (augment.auto_augment) {
    case AutoAugmentPolicy::kNone:
      return "";
    case AutoAugmentPolicy::kTrivialWide:
      return ", TrivialAugmentWide";
    case AutoAugmentPolicy::kRand:
      return fmt::format(", RandAugment ({} ops, magnitude {} of 30, std {:g})", rand.num_ops,
                         rand.magnitude, rand.magnitude_std);
  }
  return "";
}

}  // namespace

std::string describe_transforms(const Preprocess& preprocess, const Augment& augment) {
  const std::string input = preprocess.eval_resize == EvalResize::kStretch
                                ? fmt::format("stretched to {0}x{0}", preprocess.image_size)
                                : fmt::format("shorter side to {0}, centre {1}x{1}",
                                              shorter_side(preprocess), preprocess.image_size);
  std::string training = "as validation";
  if (augment.enabled) {
    training = fmt::format(
        "random-resized crop (scale {:g}-{:g}, ratio {:.3g}-{:.3g}){}{}{}", augment.scale[0],
        augment.scale[1], augment.ratio[0], augment.ratio[1], augment.hflip ? ", flip" : "",
        describe_auto_augment(augment),
        augment.color_jitter > 0 ? fmt::format(", colour jitter {:g}", augment.color_jitter) : "");
  }
  return fmt::format(
      "images: {}; training: {}{}{}", input, training,
      preprocess.exif_orientation ? "; EXIF orientation applied" : "",
      preprocess.jpeg_dct_scaling ? "; large JPEGs decoded at reduced DCT scale" : "");
}

std::string describe_mixup(const MixupConfig& mixup) {
  if (!mixup.enabled()) return "";
  std::string kinds;
  if (mixup.mixup_alpha > 0 && mixup.cutmix_alpha > 0) {
    kinds = fmt::format("mixup alpha {:g} or CutMix alpha {:g} (CutMix {:g}%)", mixup.mixup_alpha,
                        mixup.cutmix_alpha, mixup.switch_prob * 100);
  } else if (mixup.mixup_alpha > 0) {
    kinds = fmt::format("mixup alpha {:g}", mixup.mixup_alpha);
  } else {
    kinds = fmt::format("CutMix alpha {:g}", mixup.cutmix_alpha);
  }
  return fmt::format(
      "batches mixed: {}, {:g}% of the batches; training accuracy is measured against each "
      "image's dominant label",
      kinds, mixup.prob * 100);
}

std::string describe_ema(const EmaConfig& ema, Metric best_metric) {
  return fmt::format(
      "moving average of the weights: decay {:g}{}, BatchNorm statistics {}; each epoch "
      "validates it too (val_loss_ema, val_acc_ema); best.pt holds {} by {}",
      ema.decay, ema.warmup ? " after a warmup" : "",
      ema.buffers == EmaBuffers::kAverage ? "averaged" : "copied",
      is_ema_metric(best_metric) ? "the average" : "the trained weights", to_string(best_metric));
}

std::string describe_optimizer(const OptimizerConfig& optimizer, std::int64_t accumulate_steps,
                               std::int64_t batch_size, int world_size) {
  std::string text = "SGD";
  if (optimizer.type == OptimizerType::kAdamW) {
    text = fmt::format("AdamW (betas {:g}, {:g}, eps {:g})", optimizer.betas[0], optimizer.betas[1],
                       optimizer.eps);
  }
  if (accumulate_steps > 1) {
    text += fmt::format(", {} batches of {} per step{} (an effective batch of {})",
                        accumulate_steps, batch_size,
                        world_size > 1 ? fmt::format(" on each of {} ranks", world_size) : "",
                        accumulate_steps * batch_size * world_size);
  }
  return text;
}

std::string describe_groups(const std::vector<ParamGroup>& groups) {
  std::vector<std::string> described;
  for (const ParamGroup& group : groups) {
    const std::string depth =
        group.depth < 0 ? "" : fmt::format("depth {}, scale {:.4g}, ", group.depth, group.scale);
    described.push_back(fmt::format("{} ({}{} tensors, lr x {:.4g})", group.name, depth,
                                    group.parameters.size(), group.lr_mult));
  }
  return join(described);
}

std::string describe_cache(const CacheStats& stats) {
  constexpr double kMiB = 1024.0 * 1024.0;
  return fmt::format("memory cache: {} images, {:.1f} MiB", stats.images,
                     static_cast<double>(stats.bytes) / kMiB);
}

std::string describe_epoch(const EpochMetrics& metrics, std::int64_t epochs,
                           double reduce_ms_per_step) {
  const std::string val = metrics.validated ? fmt::format("val loss {:.4f} acc {:.4f}",
                                                          metrics.val_loss, metrics.val_acc)
                                            : std::string("not validated (train.val_every)");
  return fmt::format(
      "epoch {}/{}: train loss {:.4f} acc {:.4f} | {} | lr {:.4g}{} | {:.1f}s, {:.0f} img/s{}",
      metrics.epoch, epochs, metrics.train_loss, metrics.train_acc, val, metrics.lr,
      metrics.lr_end != metrics.lr ? fmt::format("->{:.4g}", metrics.lr_end) : "", metrics.seconds,
      metrics.images_per_s,
      reduce_ms_per_step >= 0 ? fmt::format(", all-reduce {:.2f} ms/step", reduce_ms_per_step)
                              : "");
}

}  // namespace ftl
