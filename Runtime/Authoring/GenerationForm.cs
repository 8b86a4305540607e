using System;
using System.Collections.Generic;
using System.Globalization;
using Sd3Tex.Generation;
using Sd3Tex.Models;
using Sd3Tex.Sampling;
using Sd3Tex.Vae;

namespace Sd3Tex.Authoring
{
    public enum SeedMode
    {
        /// <summary>A new seed for every run (the form keeps the last one drawn, so it can be locked).</summary>
        Random,
        /// <summary>The form's <see cref="GenerationForm.Seed"/> every run.</summary>
        Locked,
    }

    /// <summary>What the form needs to know about the loaded model; null fields mean "not known yet".</summary>
    public sealed class ModelFacts
    {
        public ModelFamily Family { get; set; }
        public bool HasT5 { get; set; } = true;
        /// <summary>Whether the VAE has its encoder (image-to-image, inpainting, make seamless).</summary>
        public bool HasVaeEncoder { get; set; } = true;
        /// <summary>The model's own check of a request (e.g. the size against its position table); may be null.</summary>
        public Func<GenerationRequest, List<string>> Check { get; set; }

        public static ModelFacts Of(TextureGenerator generator)
        {
            if (generator == null) throw new ArgumentNullException(nameof(generator));
            return new ModelFacts { Family = generator.Family, HasT5 = generator.HasT5, HasVaeEncoder = generator.HasVaeEncoder, Check = generator.Validate };
        }
    }

    /// <summary>
    /// The fields of the generator window (and of the runtime component): prompt, size, sampling settings, seed,
    /// batch and seamless axes. Plain public fields so Unity serializes it; all its logic (validation, presets per
    /// model family, the request it stands for) lives here and is tested without the engine.
    /// </summary>
    [Serializable]
    public sealed partial class GenerationForm
    {
        public const int MaxBatch = 32;
        /// <summary>Steps above this only cost time (the samplers converge well before).</summary>
        public const int ManySteps = 150;
        /// <summary>Guidance above this usually burns the image.</summary>
        public const float HighCfg = 15f;

        public string Prompt = "";
        public string NegativePrompt = "";
        public SizePreset Size = SizePreset.Square1024;
        /// <summary>The size when <see cref="Size"/> is <see cref="SizePreset.Custom"/>.</summary>
        public int Width = 1024;
        public int Height = 1024;
        public int Steps;
        public float Cfg;
        public float Shift;
        public SamplerKind Sampler;
        /// <summary>The family whose preset <see cref="Steps"/>, <see cref="Cfg"/>, <see cref="Shift"/> and
        /// <see cref="Sampler"/> were last set from.</summary>
        public ModelFamily PresetFamily;
        public SeedMode SeedMode = SeedMode.Random;
        public long Seed;
        public int BatchCount = 1;
        public bool SeamlessX;
        public bool SeamlessY;
        public bool UseT5 = true;

        public GenerationForm() { ApplyPreset(ModelFamily.Unknown); }

        public GenerationForm Clone() => (GenerationForm)MemberwiseClone();

        public int EffectiveWidth => SizePresets.TryGetSize(Size, out int w, out _) ? w : Width;
        public int EffectiveHeight => SizePresets.TryGetSize(Size, out _, out int h) ? h : Height;

        public SeamlessAxes Seamless => (SeamlessX ? SeamlessAxes.X : SeamlessAxes.None) | (SeamlessY ? SeamlessAxes.Y : SeamlessAxes.None);

        #region Presets

        /// <summary>Sets steps, CFG, shift and sampler to <paramref name="family"/>'s preset.</summary>
        public void ApplyPreset(ModelFamily family)
        {
            var p = GenerationPresets.For(family);
            Steps = p.Steps; Cfg = p.Cfg; Shift = p.Shift; Sampler = p.Sampler; PresetFamily = family;
            // the family's skip-layer guidance values, if it offers some (the toggle stays as it is: off by default)
            var slg = p.OfferedSkipLayerGuidance;
            if (slg != null) { SlgLayers = Generation.SkipLayerGuidance.FormatLayers(slg.Layers); SlgScale = slg.Scale; SlgStart = slg.Start; SlgEnd = slg.End; }
        }

        /// <summary>True when steps, CFG, shift and sampler are still the preset they were set from.</summary>
        public bool FollowsPreset
        {
            get
            {
                var p = GenerationPresets.For(PresetFamily);
                return Steps == p.Steps && Cfg == p.Cfg && Shift == p.Shift && Sampler == p.Sampler;
            }
        }

        /// <summary>A model of <paramref name="family"/> was loaded: its preset replaces the sampling settings unless the
        /// user changed them from the previous preset. Returns whether the preset was applied.</summary>
        public bool OnModelFamily(ModelFamily family)
        {
            if (family == PresetFamily || !FollowsPreset) return false;
            ApplyPreset(family);
            return true;
        }

        #endregion

        #region Seed

        /// <summary>Seeds are drawn from [0, 2^32), the range other tools show and accept.</summary>
        public const long SeedRange = 1L << 32;

        /// <summary>The seed of the next run: the locked seed, or a new random one (kept in <see cref="Seed"/> so the
        /// window shows it and the user can lock it).</summary>
        public long NextSeed(Random random)
        {
            if (SeedMode == SeedMode.Random)
            {
                if (random == null) throw new ArgumentNullException(nameof(random));
                Seed = ((long)random.Next(1 << 16) << 16 | (long)random.Next(1 << 16)) & (SeedRange - 1);
            }
            return Seed;
        }

        #endregion

        /// <summary>The request these fields stand for, with every sampling value explicit and the given seed.</summary>
        public GenerationRequest ToRequest(long seed) => new GenerationRequest
        {
            Prompt = Prompt ?? "", NegativePrompt = NegativePrompt ?? "", Seed = seed, Count = BatchCount,
            Width = EffectiveWidth, Height = EffectiveHeight, Steps = Steps, Cfg = Cfg, Shift = Shift, Sampler = Sampler,
            UseT5 = UseT5, Seamless = Seamless, Strength = Strength, MaskBlur = MaskBlur, SkipLayerGuidance = SkipLayerGuidanceSettings(),
        };

        /// <summary>Fills the fields from a request (history's "use these settings"); the seed is locked to the request's.
        /// Sampling values the request leaves to the preset take <paramref name="family"/>'s.</summary>
        public void Load(GenerationRequest request, ModelFamily family)
        {
            if (request == null) throw new ArgumentNullException(nameof(request));
            var p = GenerationPresets.For(family);
            Prompt = request.Prompt ?? ""; NegativePrompt = request.NegativePrompt ?? "";
            Size = SizePresets.Match(request.Width, request.Height);
            Width = request.Width; Height = request.Height;
            Steps = request.Steps ?? p.Steps; Cfg = request.Cfg ?? p.Cfg; Shift = request.Shift ?? p.Shift; Sampler = request.Sampler ?? p.Sampler;
            PresetFamily = family;
            SeedMode = SeedMode.Locked; Seed = request.Seed;
            BatchCount = request.Count;
            SeamlessX = (request.Seamless & SeamlessAxes.X) != 0; SeamlessY = (request.Seamless & SeamlessAxes.Y) != 0;
            UseT5 = request.UseT5;
        }

        /// <summary>
        /// Everything wrong or worth knowing about the fields, each naming the field and what to do. Errors block
        /// generation; warnings do not. <paramref name="model"/> adds the loaded model's checks (null: none loaded).
        /// </summary>
        public List<FormMessage> Validate(ModelFacts model = null, string projectRoot = null)
        {
            var m = new List<FormMessage>();
            var inv = CultureInfo.InvariantCulture;
            if (string.IsNullOrWhiteSpace(Prompt)) m.Add(FormMessage.Warning("Prompt", "The prompt is empty: the model will draw whatever it likes. Describe the texture, e.g. \"mossy stone wall, top-down, seamless\"."));
            if (!Enum.IsDefined(typeof(SizePreset), Size)) m.Add(FormMessage.Error("Size", $"Size preset {(int)Size} is unknown: pick 512, 768, 1024 or Custom."));
            foreach (var (field, v) in new[] { ("Width", EffectiveWidth), ("Height", EffectiveHeight) })
            {
                if (v < GenerationRequest.SizeMultiple) m.Add(FormMessage.Error(field, $"{field} {v} is too small: it must be at least {GenerationRequest.SizeMultiple}."));
                else if (v % GenerationRequest.SizeMultiple != 0) m.Add(FormMessage.Error(field, $"{field} {v} is not a multiple of {GenerationRequest.SizeMultiple}: use {GenerationRequest.RoundSize(v).ToString(inv)}."));
                else if (v > GenerationRequest.MaxSide) m.Add(FormMessage.Error(field, $"{field} {v} is larger than {GenerationRequest.MaxSide}: use a smaller size."));
            }
            if (Steps < 1) m.Add(FormMessage.Error("Steps", $"Steps is {Steps}: use at least 1 (the family presets use 40 to 50)."));
            else if (Steps > ManySteps) m.Add(FormMessage.Warning("Steps", $"{Steps} steps take long and rarely help: 28 to 50 is typical."));
            if (float.IsNaN(Cfg) || float.IsInfinity(Cfg) || Cfg < 0) m.Add(FormMessage.Error("Cfg", $"CFG {Cfg.ToString(inv)} must be a number of 0 or more (the presets use 4.5 to 5)."));
            else if (Cfg > HighCfg) m.Add(FormMessage.Warning("Cfg", $"CFG {Cfg.ToString(inv)} is very high and tends to burn the image: 3.5 to 7 is typical."));
            if (!(Shift > 0) || float.IsInfinity(Shift)) m.Add(FormMessage.Error("Shift", $"Shift {Shift.ToString(inv)} must be a positive number (1 for SD3 Medium, 3 for SD3.5)."));
            if (!Enum.IsDefined(typeof(SamplerKind), Sampler)) m.Add(FormMessage.Error("Sampler", $"Sampler {(int)Sampler} is unknown: pick Euler or DPM++ 2M."));
            if (BatchCount < 1 || BatchCount > MaxBatch) m.Add(FormMessage.Error("BatchCount", $"Batch count {BatchCount} must be between 1 and {MaxBatch}."));
            ValidateImageSettings(m, model, projectRoot);
            if (model != null)
            {
                if (UseT5 && !model.HasT5) m.Add(FormMessage.Warning("UseT5", "The model has no T5-XXL: prompts are encoded with CLIP only (add a t5xxl file to the model's files to use it)."));
                if (model.Check != null && !FormMessage.AnyErrors(m))
                {
                    var request = ToRequest(Seed);
                    var known = new HashSet<string>(request.Problems());
                    foreach (var p in model.Check(request))
                        if (!known.Contains(p)) m.Add(FormMessage.Error(p.Contains("skip-layer") ? "SlgLayers" : "Size", Capitalize(p)));
                }
            }
            return m;
        }

        static string Capitalize(string s) => string.IsNullOrEmpty(s) ? s : char.ToUpperInvariant(s[0]) + s.Substring(1);
    }
}
