using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Sd3Tex.Authoring;
using Sd3Tex.Generation;
using Sd3Tex.Sampling;
using UnityEditor;
using UnityEngine;
using UnityEngine.UIElements;
using Debug = UnityEngine.Debug;

namespace Sd3Tex.Editor
{
    /// <summary>
    /// Window ▸ SD3 Texture Generator: model settings, prompt and settings, image-to-image (init image, strength, mask,
    /// variations, Make seamless), skip-layer guidance, Generate / Cancel, a preview grid with a tiled 2×2 view and a
    /// Make seamless button per result, Save to Assets, and the history of past generations. The logic lives in the engine-free
    /// <see cref="GenerationForm"/>, <see cref="ModelSettings"/>, <see cref="GenerationHistory"/> and
    /// <see cref="GeneratorCache"/>; this class only binds them to UI Toolkit.
    /// </summary>
    public sealed class Sd3TexWindow : EditorWindow
    {
        const string Title = "SD3 Texture Generator";

        [SerializeField] GenerationForm form = new GenerationForm();
        [SerializeField] string saveFolder = "Assets/Textures/Generated";
        [SerializeField] bool materialMaps;

        ModelSettings _settings;
        GenerationHistory _history;
        readonly System.Random _random = new System.Random();
        readonly List<Result> _results = new List<Result>();
        EditorJob _job;
        string _runError;

        // UI
        TextField _weights, _tokenizers, _modelFolders;
        DropdownField _models;
        Label _modelsSummary;
        ModelChoices _choices;
        DropdownField _device;
        IntegerField _budget;
        EnumField _residency;
        Label _status;
        TextField _prompt, _negative;
        EnumField _size, _sampler, _seedMode;
        IntegerField _width, _height, _steps, _batch;
        FloatField _cfg, _shift;
        LongField _seed;
        Toggle _seamlessX, _seamlessY, _useT5;
        TextField _initImage, _mask, _slgLayers;
        Toggle _useImageSize, _useSlg;
        FloatField _strength, _slgScale, _slgStart, _slgEnd;
        IntegerField _maskBlur, _seamBand;
        Button _makeSeamless;
        VisualElement _messages, _grid, _historyList;
        Button _generate, _cancel;
        ProgressBar _progress;
        TextField _folder;

        sealed class Result
        {
            public GeneratedImage Image;
            public Texture2D Texture;
            public string HistoryId;
            /// <summary>Save to Assets also writes the material maps and creates a material.</summary>
            public bool MaterialMaps;
            /// <summary>"seam 12.3 → 1.04" for make-seamless results, else null.</summary>
            public string Seam;
        }

        [MenuItem("Window/SD3 Texture Generator")]
        public static void Open() => GetWindow<Sd3TexWindow>(Title);

        void OnEnable()
        {
            _settings = ProjectPaths.LoadSettings();
            _history = GenerationHistory.Load(ProjectPaths.History);
            if (_history.LoadProblem != null) Debug.LogWarning("SD3 Texture Generator: " + _history.LoadProblem);
        }

        void OnDisable()
        {
            _job?.Cancel();
            ClearResults();
        }

        #region Building the UI

        void CreateGUI()
        {
            var scroll = new ScrollView();
            rootVisualElement.Add(scroll);

            var model = Section(scroll, "Model");
            // the models found where users keep them (sd3tex models): choosing one fills in the weights
            _choices = ModelChoices.Scan(_settings, ProjectPaths.Root);
            _models = new DropdownField("Found models", _choices.Labels, _choices.IndexOf(_settings, ProjectPaths.Root));
            _models.RegisterValueChangedCallback(e => ChooseModel(e.newValue));
            model.Add(Row(Grow(_models), Btn("Rescan", RescanModels)));
            _modelsSummary = Wrapped(new Label(_choices.Summary));
            model.Add(_modelsSummary);
            _modelFolders = new TextField("Model folders (ComfyUI or any, one per line)") { multiline = true, isDelayed = true, value = string.Join("\n", _settings.ModelFolders) };
            _modelFolders.RegisterValueChangedCallback(e => { _settings.ModelFolders = SplitLines(e.newValue); SaveSettings(); RescanModels(); });
            model.Add(_modelFolders);
            _weights = new TextField("Weights (one per line)") { multiline = true, isDelayed = true, value = string.Join("\n", _settings.Weights) };
            _weights.style.minHeight = 48;
            _weights.RegisterValueChangedCallback(e => { _settings.Weights = SplitLines(e.newValue); SaveSettings(); SyncModelChoice(); });
            model.Add(_weights);
            model.Add(Row(Btn("Add files…", AddWeightFile), Btn("Add diffusers folder…", AddWeightFolder)));
            _tokenizers = new TextField("Tokenizers (empty: bundled)") { isDelayed = true, value = _settings.Tokenizers };
            _tokenizers.RegisterValueChangedCallback(e => { _settings.Tokenizers = e.newValue.Trim(); SaveSettings(); });
            model.Add(Row(Grow(_tokenizers), Btn("…", PickTokenizers)));
            var devices = new List<string>(ModelSettings.DeviceChoices);
            if (!devices.Contains(_settings.Device)) devices.Add(_settings.Device);
            _device = new DropdownField("Device", devices, Math.Max(0, devices.IndexOf(_settings.Device)));
            _device.RegisterValueChangedCallback(e => { _settings.Device = e.newValue; SaveSettings(); });
            model.Add(_device);
            _budget = new IntegerField("Memory budget (MiB, 0 = all)") { value = _settings.MemoryBudgetMiB, isDelayed = true };
            _budget.RegisterValueChangedCallback(e => { _settings.MemoryBudgetMiB = e.newValue; SaveSettings(); });
            model.Add(_budget);
            _residency = new EnumField("Residency", _settings.Residency);
            _residency.RegisterValueChangedCallback(e => { _settings.Residency = (Residency)e.newValue; SaveSettings(); });
            model.Add(_residency);
            model.Add(Row(Btn("Load model", () => Run(loadOnly: true)), Btn("Release model", ReleaseModel)));
            _status = Wrapped(new Label());
            model.Add(_status);

            var prompt = Section(scroll, "Prompt");
            _prompt = new TextField("Prompt") { multiline = true, value = form.Prompt };
            _prompt.style.minHeight = 48;
            _prompt.RegisterValueChangedCallback(e => { form.Prompt = e.newValue; Validate(); });
            prompt.Add(_prompt);
            _negative = new TextField("Negative prompt") { multiline = true, value = form.NegativePrompt };
            _negative.RegisterValueChangedCallback(e => { form.NegativePrompt = e.newValue; Validate(); });
            prompt.Add(_negative);

            var settings = Section(scroll, "Settings");
            _size = new EnumField("Size", form.Size);
            _size.RegisterValueChangedCallback(e => { form.Size = (SizePreset)e.newValue; Refresh(); });
            _width = new IntegerField("Width") { value = form.Width, isDelayed = true };
            _width.RegisterValueChangedCallback(e => { form.Width = e.newValue; Validate(); });
            _height = new IntegerField("Height") { value = form.Height, isDelayed = true };
            _height.RegisterValueChangedCallback(e => { form.Height = e.newValue; Validate(); });
            settings.Add(_size);
            settings.Add(_width);
            settings.Add(_height);
            _steps = new IntegerField("Steps") { isDelayed = true };
            _steps.RegisterValueChangedCallback(e => { form.Steps = e.newValue; Validate(); });
            _cfg = new FloatField("CFG") { isDelayed = true };
            _cfg.RegisterValueChangedCallback(e => { form.Cfg = e.newValue; Validate(); });
            _shift = new FloatField("Shift") { isDelayed = true };
            _shift.RegisterValueChangedCallback(e => { form.Shift = e.newValue; Validate(); });
            _sampler = new EnumField("Sampler", form.Sampler);
            _sampler.RegisterValueChangedCallback(e => { form.Sampler = (SamplerKind)e.newValue; Validate(); });
            settings.Add(_steps);
            settings.Add(_cfg);
            settings.Add(_shift);
            settings.Add(_sampler);
            settings.Add(Row(Btn("Use the model family's preset", () => { form.ApplyPreset(form.PresetFamily); Refresh(); })));
            _seedMode = new EnumField("Seed", form.SeedMode);
            _seedMode.RegisterValueChangedCallback(e => { form.SeedMode = (SeedMode)e.newValue; Refresh(); });
            _seed = new LongField("Seed value") { value = form.Seed, isDelayed = true };
            _seed.RegisterValueChangedCallback(e => { form.Seed = e.newValue; form.SeedMode = SeedMode.Locked; Refresh(); });
            settings.Add(_seedMode);
            settings.Add(_seed);
            _batch = new IntegerField("Batch count") { value = form.BatchCount, isDelayed = true };
            _batch.RegisterValueChangedCallback(e => { form.BatchCount = e.newValue; Validate(); });
            settings.Add(_batch);
            _seamlessX = new Toggle("Seamless X") { value = form.SeamlessX };
            _seamlessX.RegisterValueChangedCallback(e => { form.SeamlessX = e.newValue; Validate(); });
            _seamlessY = new Toggle("Seamless Y") { value = form.SeamlessY };
            _seamlessY.RegisterValueChangedCallback(e => { form.SeamlessY = e.newValue; Validate(); });
            _useT5 = new Toggle("Use T5-XXL") { value = form.UseT5 };
            _useT5.RegisterValueChangedCallback(e => { form.UseT5 = e.newValue; Validate(); });
            settings.Add(_seamlessX);
            settings.Add(_seamlessY);
            settings.Add(_useT5);

            var image = Section(scroll, "Image to image");
            _initImage = new TextField("Init image") { isDelayed = true, value = form.InitImage };
            _initImage.tooltip = "Start from this picture (empty: text to image). The batch count makes variations of it (seeds seed, seed + 1 ...).";
            _initImage.RegisterValueChangedCallback(e => { form.InitImage = e.newValue.Trim(); Validate(); });
            image.Add(Row(Grow(_initImage), Btn("…", () => PickImage(_initImage, v => form.InitImage = v)), Btn("×", () => { form.InitImage = ""; Refresh(); })));
            _useImageSize = new Toggle("Use the image's size") { value = form.UseInitImageSize };
            _useImageSize.RegisterValueChangedCallback(e => { form.UseInitImageSize = e.newValue; Validate(); });
            image.Add(_useImageSize);
            _strength = new FloatField("Strength (0–1]") { isDelayed = true, value = form.Strength };
            _strength.tooltip = "How much of the image is repainted: 1 ignores it, 0.8 is the reference's default, lower keeps more.";
            _strength.RegisterValueChangedCallback(e => { form.Strength = e.newValue; Validate(); });
            image.Add(_strength);
            _mask = new TextField("Mask (white repaints)") { isDelayed = true, value = form.Mask };
            _mask.tooltip = "Inpainting: white repaints, black keeps; the init image's size. Pixels the mask leaves black stay exactly as they are.";
            _mask.RegisterValueChangedCallback(e => { form.Mask = e.newValue.Trim(); Validate(); });
            image.Add(Row(Grow(_mask), Btn("…", () => PickImage(_mask, v => form.Mask = v)), Btn("×", () => { form.Mask = ""; Refresh(); })));
            _maskBlur = new IntegerField("Mask blur (px)") { isDelayed = true, value = form.MaskBlur };
            _maskBlur.RegisterValueChangedCallback(e => { form.MaskBlur = e.newValue; Validate(); });
            image.Add(_maskBlur);
            _seamBand = new IntegerField("Seam band (px, 0 = auto)") { isDelayed = true, value = form.SeamBand };
            _seamBand.RegisterValueChangedCallback(e => { form.SeamBand = e.newValue; Validate(); });
            _makeSeamless = Btn("Make seamless", () => RunMakeSeamless(null));
            _makeSeamless.tooltip = "Make the init image tile along the Seamless X / Y axes (both when neither is ticked): the seam is repainted with the prompt.";
            image.Add(Row(Grow(_seamBand), _makeSeamless));

            var guidance = Section(scroll, "Skip-layer guidance");
            _useSlg = new Toggle("Skip-layer guidance") { value = form.UseSkipLayerGuidance };
            _useSlg.tooltip = "A third pass without these joint blocks in the early steps, as SD3.5 Medium's reference offers (off by default).";
            _useSlg.RegisterValueChangedCallback(e => { form.UseSkipLayerGuidance = e.newValue; Validate(); });
            _slgLayers = new TextField("Layers") { isDelayed = true, value = form.SlgLayers };
            _slgLayers.RegisterValueChangedCallback(e => { form.SlgLayers = e.newValue.Trim(); Validate(); });
            _slgScale = new FloatField("Scale") { isDelayed = true, value = form.SlgScale };
            _slgScale.RegisterValueChangedCallback(e => { form.SlgScale = e.newValue; Validate(); });
            _slgStart = new FloatField("Start (fraction of steps)") { isDelayed = true, value = form.SlgStart };
            _slgStart.RegisterValueChangedCallback(e => { form.SlgStart = e.newValue; Validate(); });
            _slgEnd = new FloatField("End (fraction of steps)") { isDelayed = true, value = form.SlgEnd };
            _slgEnd.RegisterValueChangedCallback(e => { form.SlgEnd = e.newValue; Validate(); });
            guidance.Add(_useSlg);
            guidance.Add(_slgLayers);
            guidance.Add(_slgScale);
            guidance.Add(_slgStart);
            guidance.Add(_slgEnd);

            _messages = new VisualElement();
            scroll.Add(_messages);
            _generate = Btn("Generate", () => Run(loadOnly: false));
            _cancel = Btn("Cancel", () => _job?.Cancel());
            scroll.Add(Row(Grow(_generate), _cancel));
            _progress = new ProgressBar { title = "" };
            scroll.Add(_progress);

            var results = Section(scroll, "Results");
            _folder = new TextField("Save folder") { value = saveFolder, isDelayed = true };
            _folder.RegisterValueChangedCallback(e => saveFolder = e.newValue);
            results.Add(Row(Grow(_folder), Btn("…", PickSaveFolder), Btn("Save all", SaveAll)));
            _grid = new VisualElement();
            _grid.style.flexDirection = FlexDirection.Row;
            _grid.style.flexWrap = Wrap.Wrap;
            results.Add(_grid);

            var history = Section(scroll, "History");
            history.Add(Row(Btn("Clear history", () => { _history.Clear(); RefreshHistory(); })));
            _historyList = new VisualElement();
            history.Add(_historyList);

            Refresh();
            RefreshHistory();
            RefreshStatus();
        }

        static Foldout Section(VisualElement parent, string title)
        {
            var f = new Foldout { text = title, value = true };
            parent.Add(f);
            return f;
        }

        static VisualElement Row(params VisualElement[] children)
        {
            var row = new VisualElement();
            row.style.flexDirection = FlexDirection.Row;
            foreach (var c in children) row.Add(c);
            return row;
        }

        static Button Btn(string text, Action onClick) => new Button(onClick) { text = text };

        static T Grow<T>(T e) where T : VisualElement
        {
            e.style.flexGrow = 1;
            return e;
        }

        static Label Wrapped(Label l)
        {
            l.style.whiteSpace = WhiteSpace.Normal;
            return l;
        }

        static List<string> SplitLines(string text)
        {
            var r = new List<string>();
            foreach (var line in (text ?? "").Split('\n'))
                if (line.Trim().Length > 0) r.Add(line.Trim());
            return r;
        }

        #endregion

        #region Refreshing

        /// <summary>Puts the form's values into the fields (without raising their change events) and revalidates.</summary>
        void Refresh()
        {
            if (_prompt == null) return;
            _prompt.SetValueWithoutNotify(form.Prompt);
            _negative.SetValueWithoutNotify(form.NegativePrompt);
            _size.SetValueWithoutNotify(form.Size);
            bool custom = form.Size == SizePreset.Custom;
            _width.SetValueWithoutNotify(form.EffectiveWidth);
            _height.SetValueWithoutNotify(form.EffectiveHeight);
            _width.SetEnabled(custom);
            _height.SetEnabled(custom);
            _steps.SetValueWithoutNotify(form.Steps);
            _cfg.SetValueWithoutNotify(form.Cfg);
            _shift.SetValueWithoutNotify(form.Shift);
            _sampler.SetValueWithoutNotify(form.Sampler);
            _seedMode.SetValueWithoutNotify(form.SeedMode);
            _seed.SetValueWithoutNotify(form.Seed);
            _batch.SetValueWithoutNotify(form.BatchCount);
            _seamlessX.SetValueWithoutNotify(form.SeamlessX);
            _seamlessY.SetValueWithoutNotify(form.SeamlessY);
            _useT5.SetValueWithoutNotify(form.UseT5);
            _initImage.SetValueWithoutNotify(form.InitImage);
            _useImageSize.SetValueWithoutNotify(form.UseInitImageSize);
            _strength.SetValueWithoutNotify(form.Strength);
            _mask.SetValueWithoutNotify(form.Mask);
            _maskBlur.SetValueWithoutNotify(form.MaskBlur);
            _seamBand.SetValueWithoutNotify(form.SeamBand);
            _useSlg.SetValueWithoutNotify(form.UseSkipLayerGuidance);
            _slgLayers.SetValueWithoutNotify(form.SlgLayers);
            _slgScale.SetValueWithoutNotify(form.SlgScale);
            _slgStart.SetValueWithoutNotify(form.SlgStart);
            _slgEnd.SetValueWithoutNotify(form.SlgEnd);
            Validate();
        }

        /// <summary>Shows the settings' and the form's messages; Generate is enabled only when there are no errors.</summary>
        List<FormMessage> Validate()
        {
            var messages = _settings.Check(ProjectPaths.Root);
            var generator = GeneratorCache.Shared.TryGetOpen(_settings.ToGeneratorOptions(ProjectPaths.Root));
            messages.AddRange(form.Validate(generator == null ? null : ModelFacts.Of(generator), ProjectPaths.Root));
            if (_messages == null) return messages;
            _messages.Clear();
            foreach (var m in messages)
                _messages.Add(new HelpBox(m.Text, m.Severity == MessageSeverity.Error ? HelpBoxMessageType.Error : HelpBoxMessageType.Warning));
            // the last run's failure: shown until the next run, without blocking it
            if (_runError != null) _messages.Add(new HelpBox(_runError, HelpBoxMessageType.Error));
            bool busy = _job != null;
            _generate.SetEnabled(!busy && !FormMessage.AnyErrors(messages));
            _makeSeamless.SetEnabled(!busy && form.HasInitImage && !FormMessage.AnyErrors(messages));
            _cancel.SetEnabled(busy);
            bool image = form.HasInitImage;
            _width.SetEnabled(form.Size == SizePreset.Custom && !(image && form.UseInitImageSize));
            _height.SetEnabled(form.Size == SizePreset.Custom && !(image && form.UseInitImageSize));
            _batch.tooltip = image ? "Variations of the init image: seeds seed, seed + 1 ..." : "Images to generate: seeds seed, seed + 1 ...";
            return messages;
        }

        void RefreshStatus()
        {
            if (_status == null) return;
            var generator = GeneratorCache.Shared.TryGetOpen(_settings.ToGeneratorOptions(ProjectPaths.Root));
            _status.text = ModelStatus.Describe(generator);
        }

        void RefreshHistory()
        {
            if (_historyList == null) return;
            _historyList.Clear();
            if (_history.Entries.Count == 0) _historyList.Add(new Label("No generations yet."));
            foreach (var entry in _history.Entries)
            {
                var e = entry;
                var label = Grow(Wrapped(new Label($"{e.Time.ToLocalTime():yyyy-MM-dd HH:mm}  {e.Summary()}")));
                label.tooltip = e.ToRequest().ToString() + (e.Outputs.Count > 0 ? "\nSaved: " + string.Join(", ", e.Outputs) : "");
                _historyList.Add(Row(label, Btn("Re-run", () => Rerun(e)), Btn("Use", () => { form.Load(e); Refresh(); }),
                                     Btn("×", () => { _history.Remove(e.Id); RefreshHistory(); })));
            }
        }

        void SaveSettings()
        {
            try { _settings.Save(ProjectPaths.Settings); }
            catch (Exception e) when (e is IOException || e is UnauthorizedAccessException)
            {
                Debug.LogError($"SD3 Texture Generator: could not save {ProjectPaths.Settings}: {e.Message}");
            }
            Validate();
            RefreshStatus();
        }

        #endregion

        #region Model files

        void AddWeightFile()
        {
            string path = EditorUtility.OpenFilePanel("Add a model file (.safetensors)", ProjectPaths.Root, "safetensors");
            if (string.IsNullOrEmpty(path)) return;
            AddWeight(path);
        }

        void AddWeightFolder()
        {
            string path = EditorUtility.OpenFolderPanel("Add a diffusers model folder (with model_index.json)", ProjectPaths.Root, "");
            if (string.IsNullOrEmpty(path)) return;
            AddWeight(path);
        }

        void AddWeight(string path)
        {
            _settings.Weights.Add(ModelSettings.MakeRelative(ProjectPaths.Root, path));
            _weights.SetValueWithoutNotify(string.Join("\n", _settings.Weights));
            SaveSettings();
            SyncModelChoice();
        }

        /// <summary>A found model chosen in the dropdown: its files become the weights (an incomplete one says why not).</summary>
        void ChooseModel(string label)
        {
            var problem = _choices.Apply(_choices.Labels.IndexOf(label), _settings, ProjectPaths.Root);
            _runError = problem?.Text;
            _weights.SetValueWithoutNotify(string.Join("\n", _settings.Weights));
            SaveSettings();
            SyncModelChoice();
        }

        void RescanModels()
        {
            _choices = ModelChoices.Scan(_settings, ProjectPaths.Root);
            _models.choices = _choices.Labels;
            _modelsSummary.text = _choices.Summary;
            SyncModelChoice();
        }

        /// <summary>Shows which found model the weights are (or the custom entry).</summary>
        void SyncModelChoice()
        {
            if (_models == null) return;
            _models.SetValueWithoutNotify(_choices.Labels[_choices.IndexOf(_settings, ProjectPaths.Root)]);
        }

        void PickTokenizers()
        {
            string path = EditorUtility.OpenFolderPanel("Tokenizer folder (clip/ and t5/)", ProjectPaths.Root, "");
            if (string.IsNullOrEmpty(path)) return;
            _settings.Tokenizers = ModelSettings.MakeRelative(ProjectPaths.Root, path);
            _tokenizers.SetValueWithoutNotify(_settings.Tokenizers);
            SaveSettings();
        }

        /// <summary>Picks an image (PNG, JPEG, BMP, TGA, WebP) for an image field (init image or mask), kept project-relative when inside the project.</summary>
        void PickImage(TextField field, Action<string> set)
        {
            string path = EditorUtility.OpenFilePanel("Pick an image", ProjectPaths.Root, "png,jpg,jpeg,bmp,tga,webp");
            if (string.IsNullOrEmpty(path)) return;
            string value = ModelSettings.MakeRelative(ProjectPaths.Root, path);
            set(value);
            field.SetValueWithoutNotify(value);
            Validate();
        }

        void ReleaseModel()
        {
            _job?.Cancel();
            GeneratorCache.Shared.Release();
            RefreshStatus();
            Validate();
        }

        #endregion

        #region Generating

        void Rerun(HistoryEntry entry)
        {
            form.Load(entry);
            Refresh();
            Run(loadOnly: false);
        }

        /// <summary>Opens the model (first use) and, unless <paramref name="loadOnly"/>, generates the form's request
        /// as a background task.</summary>
        void Run(bool loadOnly) => RunJob(loadOnly ? "loading the model" : form.Prompt, async (generator, options, job, progress) =>
        {
            if (loadOnly) return true;
            if (FormMessage.AnyErrors(form.Validate(ModelFacts.Of(generator), ProjectPaths.Root))) return false;
            long seed = form.NextSeed(_random);
            var request = form.HasInitImage ? form.ToImageRequest(seed, ProjectPaths.Root) : form.ToRequest(seed);
            _seed.SetValueWithoutNotify(form.Seed);
            var clock = Stopwatch.StartNew();
            var result = await GeneratorCache.Shared.GenerateAsync(options, request, progress, job.Token);
            var entry = AddHistory(HistoryEntry.From(result.Request, form, generator.ModelName, generator.Family, generator.DeviceDescription, clock.Elapsed));
            ShowResults(result, entry.Id);
            return Done(result);
        });

        /// <summary>Make seamless on a result's image, or on the init image when <paramref name="image"/> is null; the
        /// results show with their seam metric before and after.</summary>
        void RunMakeSeamless(Sd3Tex.Imaging.ImageRgba8 image) => RunJob("make seamless", async (generator, options, job, progress) =>
        {
            var request = form.ToMakeSeamlessRequest(form.NextSeed(_random), ProjectPaths.Root, image);
            _seed.SetValueWithoutNotify(form.Seed);
            var clock = Stopwatch.StartNew();
            var result = await GeneratorCache.Shared.MakeSeamlessAsync(options, request, progress, job.Token);
            var entry = AddHistory(HistoryEntry.From(result.Generation.Request, image == null ? form : null, generator.ModelName, generator.Family,
                                                     generator.DeviceDescription, clock.Elapsed));
            ShowResults(result.Generation, entry.Id, result.SeamAfter.Select(a => $"seam {result.SeamBefore:0.00} → {a:0.00}").ToList());
            return Done(result.Generation);
        });

        /// <summary>
        /// Runs <paramref name="work"/> as a background task once the model is open (first use: loaded here): progress in
        /// the window and Background Tasks, Cancel, the failure kept on view. <paramref name="work"/> returns false for a
        /// request its messages already explain.
        /// </summary>
        async void RunJob(string description, Func<TextureGenerator, GeneratorOptions, EditorJob, JobProgress, Task<bool>> work)
        {
            if (_job != null) return;
            if (FormMessage.AnyErrors(_settings.Check(ProjectPaths.Root)))
            {
                Validate();
                return;
            }
            var options = _settings.ToGeneratorOptions(ProjectPaths.Root);
            _runError = null;
            var job = EditorJob.Start(Title, description);
            _job = job;
            var progress = new JobProgress(job, SynchronizationContext.Current, this);
            Validate();
            try
            {
                var generator = await GeneratorCache.Shared.OpenAsync(options, progress, job.Token);
                if (form.OnModelFamily(generator.Family)) Refresh();
                RefreshStatus();
                job.Finish(await work(generator, options, job, progress) ? Progress.Status.Succeeded : Progress.Status.Failed);
            }
            catch (OperationCanceledException)
            {
                job.Finish(Progress.Status.Canceled);
            }
            catch (Exception e)
            {
                job.Finish(Progress.Status.Failed);
                Debug.LogError("SD3 Texture Generator: " + e.Message);
                _runError = e.Message;
            }
            finally
            {
                if (_job == job) _job = null;
                if (_progress != null) { _progress.value = 0; _progress.title = ""; }
                Validate();
                RefreshStatus();
            }
        }

        HistoryEntry AddHistory(HistoryEntry entry)
        {
            try { _history.Add(entry); }
            catch (Exception e) when (e is IOException || e is UnauthorizedAccessException)
            {
                Debug.LogWarning($"SD3 Texture Generator: the history could not be saved to {ProjectPaths.History}: {e.Message}");
            }
            return entry;
        }

        bool Done(GenerationResult result)
        {
            RefreshHistory();
            foreach (var w in result.Warnings) Debug.LogWarning("SD3 Texture Generator: " + w);
            return true;
        }

        /// <summary>Progress into the Background Tasks window (thread-safe) and the window's bar (on the main thread).</summary>
        sealed class JobProgress : IProgress<GenerationProgress>
        {
            readonly EditorJob _job;
            readonly SynchronizationContext _main;
            readonly Sd3TexWindow _window;

            public JobProgress(EditorJob job, SynchronizationContext main, Sd3TexWindow window)
            {
                _job = job; _main = main; _window = window;
            }

            public void Report(GenerationProgress p)
            {
                _job.Report(p);
                _main.Post(_ =>
                {
                    if (_window == null || _window._progress == null) return;
                    _window._progress.value = (float)(p.Fraction * 100);
                    _window._progress.title = p.ToString();
                }, null);
            }
        }

        #endregion

        #region Results

        void ShowResults(GenerationResult result, string historyId, List<string> seams = null)
        {
            ClearResults();
            for (int i = 0; i < result.Images.Count; i++)
            {
                var image = result.Images[i];
                var texture = Sd3Tex.Unity.Sd3TexGenerator.ToTexture(image, result.Request.Request.Seamless);
                texture.hideFlags = HideFlags.HideAndDontSave;
                _results.Add(new Result { Image = image, Texture = texture, HistoryId = historyId, MaterialMaps = materialMaps,
                                          Seam = seams != null && i < seams.Count ? seams[i] : null });
            }
            RefreshGrid();
        }

        void RefreshGrid()
        {
            if (_grid == null) return;
            _grid.Clear();
            foreach (var r in _results)
            {
                var result = r;
                var cell = new VisualElement();
                cell.style.width = 260;
                cell.style.marginRight = 6;
                cell.style.marginTop = 6;
                // the single image, or four copies edge to edge to show how the texture tiles
                float width = 256, height = 256f * result.Image.Image.Height / result.Image.Image.Width;
                var view = new VisualElement();
                view.style.width = width;
                view.style.height = height;
                view.style.flexDirection = FlexDirection.Row;
                view.style.flexWrap = Wrap.Wrap;
                void Show(bool tiledView)
                {
                    view.Clear();
                    int copies = tiledView ? 4 : 1;
                    for (int i = 0; i < copies; i++)
                    {
                        var image = new Image { image = result.Texture, scaleMode = ScaleMode.StretchToFill };
                        image.style.width = tiledView ? width / 2 : width;
                        image.style.height = tiledView ? height / 2 : height;
                        view.Add(image);
                    }
                }
                Show(false);
                cell.Add(view);
                cell.Add(new Label($"seed {result.Image.Seed}" + (result.Seam != null ? " · " + result.Seam : "")));
                var tiled = new Toggle("Tiled 2×2");
                tiled.RegisterValueChangedCallback(e => Show(e.newValue));
                cell.Add(tiled);
                var maps = new Toggle("Material maps") { value = result.MaterialMaps, tooltip = MaterialMapsTooltip };
                maps.RegisterValueChangedCallback(e => { result.MaterialMaps = e.newValue; materialMaps = e.newValue; });
                cell.Add(maps);
                cell.Add(Row(Btn("Save to Assets", () => Save(result)), Btn("Make seamless", () => RunMakeSeamless(result.Image.Image))));
                _grid.Add(cell);
            }
        }

        const string MaterialMapsTooltip = "Save to Assets also derives tileable material maps (normal, height, ambient occlusion, and the " +
                                           "HDRP mask map or the URP / Built-in metallic-smoothness map) and creates a material for the project's render pipeline.";

        async void Save(Result r)
        {
            try
            {
                string path = TextureAssets.Save(r.Image, saveFolder);
                _history.RecordOutput(r.HistoryId, path);
                RefreshHistory();
                string ping = path;
                if (r.MaterialMaps)
                {
                    var pipeline = TextureAssets.CurrentPipeline();
                    var options = MaterialMapsSaving.OptionsFor(pipeline);
                    string device = _settings.Device;
                    var image = r.Image.Image;
                    var maps = await Task.Run(() => Sd3Tex.Materials.PbrMaps.DeriveOn(image, options, device));
                    TextureAssets.SaveMaps(path, r.Image, maps);
                    if (MaterialSetup.For(pipeline) != null) ping = TextureAssets.CreateMaterial(path, pipeline);
                    else Debug.LogWarning($"SD3 Texture Generator: the maps of {path} are saved; {RenderPipelines.DisplayName(pipeline)} has no known lit shader, so no material was made.");
                }
                EditorGUIUtility.PingObject(AssetDatabase.LoadAssetAtPath<UnityEngine.Object>(ping));
                ShowNotification(new GUIContent("Saved " + ping));
            }
            catch (Exception e) when (e is ArgumentException || e is IOException || e is UnauthorizedAccessException ||
                                      e is InvalidOperationException || e is Sd3Tex.Kernels.DeviceException)
            {
                EditorUtility.DisplayDialog("Cannot save", e.Message, "OK");
            }
        }

        void SaveAll()
        {
            foreach (var r in _results) Save(r);
        }

        void PickSaveFolder()
        {
            string path = EditorUtility.OpenFolderPanel("Save generated textures in (inside Assets/)", Path.Combine(ProjectPaths.Root, "Assets"), "");
            if (string.IsNullOrEmpty(path)) return;
            string folder = SaveNaming.NormalizeAssetFolder(path, ProjectPaths.Root, out string problem);
            if (folder == null)
            {
                EditorUtility.DisplayDialog("Choose a folder inside Assets/", problem, "OK");
                return;
            }
            saveFolder = folder;
            _folder.SetValueWithoutNotify(folder);
        }

        void ClearResults()
        {
            foreach (var r in _results)
                if (r.Texture != null) DestroyImmediate(r.Texture);
            _results.Clear();
            _grid?.Clear();
        }

        #endregion
    }
}
