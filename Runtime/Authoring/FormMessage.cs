using System.Collections.Generic;

namespace Sd3Tex.Authoring
{
    public enum MessageSeverity
    {
        /// <summary>Worth knowing; generation can still run.</summary>
        Warning,
        /// <summary>Generation cannot run until this is fixed.</summary>
        Error,
    }

    /// <summary>One finding about the window's fields or settings: which field, and what to do.</summary>
    public sealed class FormMessage
    {
        public MessageSeverity Severity { get; }
        /// <summary>The field it is about ("Width", "Weights" ...), or "" for the form as a whole.</summary>
        public string Field { get; }
        public string Text { get; }

        public FormMessage(MessageSeverity severity, string field, string text)
        {
            Severity = severity; Field = field ?? ""; Text = text ?? "";
        }

        public static FormMessage Error(string field, string text) => new FormMessage(MessageSeverity.Error, field, text);
        public static FormMessage Warning(string field, string text) => new FormMessage(MessageSeverity.Warning, field, text);

        public static bool AnyErrors(IEnumerable<FormMessage> messages)
        {
            if (messages == null) return false;
            foreach (var m in messages) if (m.Severity == MessageSeverity.Error) return true;
            return false;
        }

        public override string ToString() => (Severity == MessageSeverity.Error ? "error" : "warning") + (Field.Length > 0 ? " (" + Field + ")" : "") + ": " + Text;
    }
}
