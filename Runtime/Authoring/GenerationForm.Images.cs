using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using Sd3Tex.Generation;
using Sd3Tex.Imaging;
using Sd3Tex.Vae;

namespace Sd3Tex.Authoring
{
    /// <summary>The form's image-to-image, inpainting, skip-layer guidance and make-seamless fields.</summary>
    public sealed partial class GenerationForm
    {
        /// <summary>Image-to-image: the picture to start from (project-relative or absolute path; empty: text-to-image).</summary>
        public string InitImage = "";
        /// <summary>Denoising strength in (0, 1]: how much of the init image is repainted.</summary>
        public float Strength = GenerationRequest.DefaultStrength;
        /// <summary>Generate at the init image's size (rounded to multiples of 16) instead of <see cref="Size"/>.</summary>
        public bool UseInitImageSize = true;
        /// <summary>Inpainting mask (white repaints, black keeps), the init image's size; empty: none.</summary>
        public string Mask = "";
        /// <summary>Pixels over which the repaint fades in inside the mask's edge.</summary>
        public int MaskBlur;
        /// <summary>Skip-layer guidance (off by default; SD3.5 Medium's reference values below).</summary>
        public bool UseSkipLayerGuidance;
        public string SlgLayers = "7,8,9";
        public float SlgScale = 2.5f;
        public float SlgStart = 0.01f;
        public float SlgEnd = 0.20f;
        /// <summary>Make seamless: the band's width in pixels (0: a quarter of the shorter side).</summary>
        public int SeamBand;

        public bool HasInitImage => !string.IsNullOrWhiteSpace(InitImage);
        public bool HasMask => !string.IsNullOrWhiteSpace(Mask);

        /// <summary>The axes "Make seamless" works on: the Seamless X / Y toggles, both when neither is ticked.</summary>
        public SeamlessAxes MakeSeamlessAxes => Seamless == SeamlessAxes.None ? SeamlessAxes.Both : Seamless;

        /// <summary>The skip-layer guidance these fields stand for; null when off (or when the layers do not parse, which
        /// <see cref="Validate"/> reports).</summary>
        public SkipLayerGuidance SkipLayerGuidanceSettings()
        {
            if (!UseSkipLayerGuidance || !Generation.SkipLayerGuidance.TryParseLayers(SlgLayers, out var layers)) return null;
            return new SkipLayerGuidance { Layers = layers, Scale = SlgScale, Start = SlgStart, End = SlgEnd };
        }

        /// <summary>
        /// The request with the image files read (through <see cref="ImageFiles"/>) and, with <see cref="UseInitImageSize"/>,
        /// the size taken from the init image. Throws <see cref="GenerationRequestException"/> listing every problem
        /// (files that cannot be read included).
        /// </summary>
        public GenerationRequest ToImageRequest(long seed, string projectRoot)
        {
            var r = ToRequest(seed);
            var problems = new List<string>();
            if (HasInitImage)
            {
                r.InitImage = ImageFiles.TryLoad(ModelSettings.Resolve(projectRoot, InitImage.Trim()), "init image", problems);
                if (r.InitImage != null && UseInitImageSize)
                {
                    r.Width = GenerationRequest.RoundSize(r.InitImage.Width);
                    r.Height = GenerationRequest.RoundSize(r.InitImage.Height);
                }
            }
            if (HasMask) r.Mask = ImageFiles.TryLoad(ModelSettings.Resolve(projectRoot, Mask.Trim()), "mask", problems);
            if (problems.Count > 0)
            {
                // the image named but unreadable: its strength is still checked
                if (HasInitImage && r.InitImage == null && GenerationRequest.StrengthProblem(r.Strength) is string sp) problems.Add(sp);
                foreach (var p in r.Problems()) if (!problems.Contains(p)) problems.Add(p);
                throw new GenerationRequestException(problems);
            }
            return r;
        }

        /// <summary>Make seamless on <paramref name="image"/> (a result), or on the init image file when null, with the
        /// form's prompt and sampling settings, <see cref="MakeSeamlessAxes"/> and <see cref="SeamBand"/>; the band is
        /// generated anew (strength 1).</summary>
        public MakeSeamlessRequest ToMakeSeamlessRequest(long seed, string projectRoot, ImageRgba8 image = null)
        {
            var problems = new List<string>();
            if (image == null)
            {
                if (!HasInitImage) problems.Add("make seamless needs an image: set the init image, or use a result's Make seamless button.");
                else image = ImageFiles.TryLoad(ModelSettings.Resolve(projectRoot, InitImage.Trim()), "init image", problems);
            }
            if (problems.Count > 0) throw new GenerationRequestException(problems);
            return new MakeSeamlessRequest
            {
                Image = image, Axes = MakeSeamlessAxes, BandWidth = SeamBand, Prompt = Prompt ?? "", NegativePrompt = NegativePrompt ?? "", Seed = seed,
                Count = 1, Steps = Steps, Cfg = Cfg, Shift = Shift, Sampler = Sampler, Strength = 1f, UseT5 = UseT5,
                SkipLayerGuidance = SkipLayerGuidanceSettings(),
            };
        }

        /// <summary>The image fields' messages: files that do not exist (when <paramref name="projectRoot"/> is given),
        /// strength, mask without an image, blur, guidance settings, a VAE without encoder.</summary>
        void ValidateImageSettings(List<FormMessage> m, ModelFacts model, string projectRoot)
        {
            var inv = CultureInfo.InvariantCulture;
            bool Missing(string path) => projectRoot != null && !File.Exists(ModelSettings.Resolve(projectRoot, path.Trim()));
            if (HasInitImage)
            {
                if (Missing(InitImage)) m.Add(FormMessage.Error("InitImage", $"The init image \"{InitImage}\" does not exist: pick a PNG (or clear the field for text-to-image)."));
                if (!(Strength > 0 && Strength <= 1)) m.Add(FormMessage.Error("Strength", $"Strength {Strength.ToString(inv)} must be above 0 and at most 1 (0.8 is typical; lower keeps more of the image)."));
                if (model != null && !model.HasVaeEncoder) m.Add(FormMessage.Error("InitImage", "The model's VAE has no encoder, so an init image cannot be used: use weights whose VAE includes the encoder."));
            }
            if (HasMask)
            {
                if (!HasInitImage) m.Add(FormMessage.Error("Mask", "A mask needs an init image to repaint: set the init image too."));
                else if (Missing(Mask)) m.Add(FormMessage.Error("Mask", $"The mask \"{Mask}\" does not exist: pick a PNG of the init image's size (white repaints)."));
            }
            if (MaskBlur < 0) m.Add(FormMessage.Error("MaskBlur", $"Mask blur {MaskBlur} must not be negative (0: a hard edge)."));
            if (UseSkipLayerGuidance)
            {
                if (!Generation.SkipLayerGuidance.TryParseLayers(SlgLayers, out var layers))
                    m.Add(FormMessage.Error("SlgLayers", $"Skip-layer guidance layers \"{SlgLayers}\" must be block indices such as 7,8,9."));
                else
                    foreach (var p in new SkipLayerGuidance { Layers = layers, Scale = SlgScale, Start = SlgStart, End = SlgEnd }.Problems())
                        m.Add(FormMessage.Error("SlgLayers", char.ToUpperInvariant(p[0]) + p.Substring(1)));
            }
            if (SeamBand < 0) m.Add(FormMessage.Error("SeamBand", $"The seam band {SeamBand} must not be negative (0: a quarter of the shorter side)."));
        }

        /// <summary>Fills the fields from a history entry (its request and its image settings).</summary>
        public void Load(HistoryEntry entry)
        {
            if (entry == null) throw new ArgumentNullException(nameof(entry));
            Load(entry.ToRequest(), entry.Family);
            InitImage = entry.InitImage ?? ""; Mask = entry.Mask ?? "";
            Strength = entry.Strength; MaskBlur = entry.MaskBlur;
            UseInitImageSize = false; // the entry's size is the one it ran at
            UseSkipLayerGuidance = !string.IsNullOrEmpty(entry.SlgLayers);
            if (UseSkipLayerGuidance) { SlgLayers = entry.SlgLayers; SlgScale = entry.SlgScale; SlgStart = entry.SlgStart; SlgEnd = entry.SlgEnd; }
        }
    }
}
