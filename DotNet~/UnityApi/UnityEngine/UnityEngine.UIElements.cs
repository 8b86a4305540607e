// Reference-only declarations of the UnityEngine.UIElements (UI Toolkit) members this package uses.
// Copied from Unity-Technologies/UnityCsReference, branch 2022.3 (Unity 2022.3.76f1), folder
// ModuleOverrides/com.unity.ui/Core/; the file each type is declared in is named above it (paths below that folder).
// Same rules as UnityEngine.cs: signatures kept, bodies `throw null`, unused members, interfaces and overrides left out
// (a call binds to the member's first declaration, which is the one kept).

using System;
using System.Collections.Generic;

namespace UnityEngine.UIElements
{
    // Events/EventHandler.cs
    public abstract class CallbackEventHandler
    {
    }

    // FocusController.cs
    public abstract class Focusable : CallbackEventHandler
    {
    }

    // VisualElement.cs, VisualElementHierarchy.cs (Add, Clear), VisualElementStyleAccess.cs (style), VisualElementTooltip.cs (tooltip)
    public partial class VisualElement : Focusable
    {
        public VisualElement() => throw null;
        public void SetEnabled(bool value) => throw null;
        public void Add(VisualElement child) => throw null;
        public void Clear() => throw null;
        public IStyle style { get => throw null; }
        public string tooltip { get => throw null; set => throw null; }
    }

    // BindableElement.cs
    public class BindableElement : VisualElement
    {
    }

    // Style/Generated/IStyle.cs
    public partial interface IStyle
    {
        StyleEnum<FlexDirection> flexDirection { get; set; }
        StyleFloat flexGrow { get; set; }
        StyleEnum<Wrap> flexWrap { get; set; }
        StyleLength height { get; set; }
        StyleLength marginRight { get; set; }
        StyleLength marginTop { get; set; }
        StyleLength minHeight { get; set; }
        StyleEnum<WhiteSpace> whiteSpace { get; set; }
        StyleLength width { get; set; }
    }

    // Style/StyleEnum.cs
    public struct StyleEnum<T> where T : struct, IConvertible
    {
        public static implicit operator StyleEnum<T>(T v) => throw null;
    }

    // Style/StyleFloat.cs
    public struct StyleFloat
    {
        public static implicit operator StyleFloat(float v) => throw null;
    }

    // Style/StyleLength.cs
    public struct StyleLength
    {
        public static implicit operator StyleLength(float v) => throw null;
    }

    // StyleEnums.cs (values are Yoga's: External/Yoga/csharp/Facebook.Yoga/YogaFlexDirection.cs, YogaWrap.cs)
    public enum FlexDirection
    {
        Column = 0,
        ColumnReverse = 1,
        Row = 2,
        RowReverse = 3
    }

    // StyleEnums.cs
    public enum Wrap
    {
        NoWrap = 0,
        Wrap = 1,
        WrapReverse = 2
    }

    // StyleEnums.cs
    public enum WhiteSpace
    {
        Normal = 0,
        NoWrap = 1
    }

    // Events/EventBase.cs
    public abstract class EventBase
    {
    }

    // Events/EventBase.cs
    public abstract class EventBase<T> : EventBase where T : EventBase<T>, new()
    {
    }

    // Events/ChangeEvent.cs
    public class ChangeEvent<T> : EventBase<ChangeEvent<T>>
    {
        public T newValue { get => throw null; protected set => throw null; }
    }

    // Events/EventCallback.cs
    public delegate void EventCallback<in TEventType>(TEventType evt);

    // Controls/INotifyValueChanged.cs
    public interface INotifyValueChanged<T>
    {
    }

    // Controls/INotifyValueChanged.cs
    public static class INotifyValueChangedExtensions
    {
        public static bool RegisterValueChangedCallback<T>(this INotifyValueChanged<T> control, EventCallback<ChangeEvent<T>> callback) => throw null;
    }

    // Controls/InputField/BaseField.cs
    public abstract class BaseField<TValueType> : BindableElement, INotifyValueChanged<TValueType>
    {
        public virtual TValueType value { get => throw null; set => throw null; }
        public virtual void SetValueWithoutNotify(TValueType newValue) => throw null;
    }

    // Controls/InputField/TextInputFieldBase.cs
    public abstract class TextInputBaseField<TValueType> : BaseField<TValueType>
    {
        public bool isDelayed { get => throw null; set => throw null; }
    }

    // Controls/InputField/TextField.cs
    public class TextField : TextInputBaseField<string>
    {
        public TextField(string label) => throw null;
        public bool multiline { get => throw null; set => throw null; }
    }

    // Controls/TextValueField.cs
    public abstract class TextValueField<TValueType> : TextInputBaseField<TValueType>
    {
        internal const int kMaxValueFieldLength = 1000;
    }

    // Controls/IntegerField.cs
    public class IntegerField : TextValueField<int>
    {
        public IntegerField(string label, int maxLength = kMaxValueFieldLength) => throw null;
    }

    // Controls/FloatField.cs
    public class FloatField : TextValueField<float>
    {
        public FloatField(string label, int maxLength = kMaxValueFieldLength) => throw null;
    }

    // Controls/LongField.cs
    public class LongField : TextValueField<long>
    {
        public LongField(string label, int maxLength = kMaxValueFieldLength) => throw null;
    }

    // Controls/BaseBoolField.cs
    public abstract class BaseBoolField : BaseField<bool>
    {
    }

    // Controls/Toggle.cs
    public class Toggle : BaseBoolField
    {
        public Toggle(string label) => throw null;
    }

    // Controls/EnumField.cs
    public class EnumField : BaseField<Enum>
    {
        public EnumField(string label, Enum defaultValue = null) => throw null;
    }

    // Controls/BasePopupField.cs
    public abstract class BasePopupField<TValueType, TValueChoice> : BaseField<TValueType>
    {
        public virtual List<TValueChoice> choices { get => throw null; set => throw null; }
    }

    // Controls/PopupField.cs
    public class PopupField<T> : BasePopupField<T, T>
    {
    }

    // Controls/DropdownField.cs
    public class DropdownField : PopupField<string>
    {
        public DropdownField(string label, List<string> choices, int defaultIndex, Func<string, string> formatSelectedValueCallback = null, Func<string, string> formatListItemCallback = null) => throw null;
    }

    // TextElement.cs
    public partial class TextElement : BindableElement
    {
        public virtual string text { get => throw null; set => throw null; }
    }

    // Controls/Label.cs
    public class Label : TextElement
    {
        public Label() => throw null;
        public Label(string text) => throw null;
    }

    // Controls/Button.cs
    public class Button : TextElement
    {
        public Button(Action clickEvent) => throw null;
    }

    // Controls/Foldout.cs
    public class Foldout : BindableElement
    {
        public string text { get => throw null; set => throw null; }
        public bool value { get => throw null; set => throw null; }
        public Foldout() => throw null;
    }

    // Controls/ScrollView.cs
    public class ScrollView : VisualElement
    {
        public ScrollView() => throw null;
    }

    // Controls/HelpBox.cs
    public enum HelpBoxMessageType
    {
        None = 0,
        Info = 1,
        Warning = 2,
        Error = 3
    }

    // Controls/HelpBox.cs
    public class HelpBox : VisualElement
    {
        public HelpBox(string text, HelpBoxMessageType messageType) => throw null;
    }

    // Controls/ProgressBar.cs
    public abstract class AbstractProgressBar : BindableElement
    {
        public string title { get => throw null; set => throw null; }
        public virtual float value { get => throw null; set => throw null; }
    }

    // Controls/ProgressBar.cs
    public class ProgressBar : AbstractProgressBar
    {
    }

    // Controls/Image.cs
    public class Image : VisualElement
    {
        public Texture image { get => throw null; set => throw null; }
        public ScaleMode scaleMode { get => throw null; set => throw null; }
        public Image() => throw null;
    }
}
