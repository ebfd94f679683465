using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;

namespace Lashup.Host.Metrics;

/// <summary>
/// Collects every instrument of meters named <c>Lashup*</c> and renders them in the Prometheus text format
/// (version 0.0.4). Written by hand: OpenTelemetry's Prometheus exporter is still a prerelease and not served here,
/// and prometheus-net would bring a second metrics API; System.Diagnostics.Metrics plus this small renderer is all the
/// admin API needs. Recording is lock-free once a tag set has been seen; tag sets are few per instrument.
/// </summary>
public sealed class PrometheusExporter : IDisposable
{
    private static readonly double[] DefaultBuckets = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
    private readonly MeterListener _listener = new();
    private readonly Lock _lock = new();
    private readonly List<InstrumentState> _instruments = [];

    /// <summary>Starts listening to meters whose name starts with <paramref name="meterPrefix"/>.</summary>
    public PrometheusExporter(string meterPrefix = "Lashup")
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (!instrument.Meter.Name.StartsWith(meterPrefix, StringComparison.Ordinal))
            {
                return;
            }

            var state = new InstrumentState(instrument);
            lock (_lock)
            {
                _instruments.Add(state);
            }

            listener.EnableMeasurementEvents(instrument, state);
        };
        _listener.MeasurementsCompleted = (instrument, state) =>
        {
            lock (_lock)
            {
                _instruments.Remove((InstrumentState)state!);
            }
        };
        _listener.SetMeasurementEventCallback<long>((i, v, tags, s) => ((InstrumentState)s!).Record(v, tags));
        _listener.SetMeasurementEventCallback<int>((i, v, tags, s) => ((InstrumentState)s!).Record(v, tags));
        _listener.SetMeasurementEventCallback<short>((i, v, tags, s) => ((InstrumentState)s!).Record(v, tags));
        _listener.SetMeasurementEventCallback<byte>((i, v, tags, s) => ((InstrumentState)s!).Record(v, tags));
        _listener.SetMeasurementEventCallback<double>((i, v, tags, s) => ((InstrumentState)s!).Record(v, tags));
        _listener.SetMeasurementEventCallback<float>((i, v, tags, s) => ((InstrumentState)s!).Record(v, tags));
        _listener.SetMeasurementEventCallback<decimal>((i, v, tags, s) => ((InstrumentState)s!).Record((double)v, tags));
        _listener.Start();
    }

    /// <summary>Renders every metric. Observable instruments are sampled now.</summary>
    public string Render()
    {
        _listener.RecordObservableInstruments();
        InstrumentState[] instruments;
        lock (_lock)
        {
            instruments = [.. _instruments];
        }

        var sb = new StringBuilder();
        foreach (var group in instruments.GroupBy(i => i.MetricName).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var first = group.First();
            sb.Append("# HELP ").Append(first.MetricName).Append(' ').Append(Escape(first.Instrument.Description ?? first.Instrument.Name)).Append('\n');
            sb.Append("# TYPE ").Append(first.MetricName).Append(' ').Append(first.Kind switch
            {
                Kind.Counter => "counter",
                Kind.Histogram => "histogram",
                _ => "gauge",
            }).Append('\n');
            foreach (var state in group)
            {
                state.Write(sb);
            }
        }

        return sb.ToString();
    }

    /// <inheritdoc/>
    public void Dispose() => _listener.Dispose();

    private static string Escape(string s) => s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    private static string Sanitize(string name)
    {
        var sb = new StringBuilder(name.Length);
        foreach (var c in name)
        {
            sb.Append(char.IsAsciiLetterOrDigit(c) || c == '_' ? c : '_');
        }

        return sb.ToString();
    }

    private enum Kind
    {
        Counter,
        Gauge,
        Histogram,
    }

    private sealed class InstrumentState
    {
        private readonly Lock _lock = new();
        private Series[] _series = [];

        public InstrumentState(Instrument instrument)
        {
            Instrument = instrument;
            var type = instrument.GetType();
            var generic = type.IsGenericType ? type.GetGenericTypeDefinition() : type;
            Kind = generic == typeof(Counter<>) || generic == typeof(ObservableCounter<>) ? Kind.Counter
                : generic == typeof(Histogram<>) ? Kind.Histogram
                : Kind.Gauge;
            // Observable instruments report their current (cumulative) value at each collection: keep the last one.
            Cumulative = instrument.IsObservable;
            IsUpDown = generic == typeof(UpDownCounter<>);
            var baseName = Sanitize(instrument.Name);
            MetricName = Kind == Kind.Counter && !baseName.EndsWith("_total", StringComparison.Ordinal) ? baseName + "_total" : baseName;
            Buckets = instrument switch
            {
                Histogram<double> h when h.Advice?.HistogramBucketBoundaries is { Count: > 0 } b => [.. b],
                Histogram<long> h when h.Advice?.HistogramBucketBoundaries is { Count: > 0 } b => [.. b.Select(x => (double)x)],
                Histogram<int> h when h.Advice?.HistogramBucketBoundaries is { Count: > 0 } b => [.. b.Select(x => (double)x)],
                _ => DefaultBuckets,
            };
        }

        public Instrument Instrument { get; }

        public Kind Kind { get; }

        public string MetricName { get; }

        private bool Cumulative { get; }

        private bool IsUpDown { get; }

        private double[] Buckets { get; }

        public void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var series = Find(tags);
            if (Kind == Kind.Histogram)
            {
                series.Observe(value, Buckets);
            }
            else if (Cumulative || (Kind == Kind.Gauge && !IsUpDown))
            {
                series.Set(value);
            }
            else
            {
                series.Add(value);
            }
        }

        public void Write(StringBuilder sb)
        {
            foreach (var s in Volatile.Read(ref _series))
            {
                if (Kind == Kind.Histogram)
                {
                    s.WriteHistogram(sb, MetricName, Buckets);
                }
                else
                {
                    sb.Append(MetricName).Append(s.Labels).Append(' ').Append(Format(s.Value)).Append('\n');
                }
            }
        }

        private Series Find(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            foreach (var s in Volatile.Read(ref _series))
            {
                if (s.Matches(tags))
                {
                    return s;
                }
            }

            lock (_lock)
            {
                foreach (var s in _series)
                {
                    if (s.Matches(tags))
                    {
                        return s;
                    }
                }

                var created = new Series(tags, Kind == Kind.Histogram ? Buckets.Length : 0);
                Volatile.Write(ref _series, [.. _series, created]);
                return created;
            }
        }
    }

    private sealed class Series
    {
        private readonly KeyValuePair<string, object?>[] _tags;
        private readonly long[] _bucketCounts;
        private long _valueBits;
        private long _count;

        public Series(ReadOnlySpan<KeyValuePair<string, object?>> tags, int buckets)
        {
            _tags = [.. tags];
            Array.Sort(_tags, (a, b) => string.CompareOrdinal(a.Key, b.Key));
            _bucketCounts = new long[buckets];
            Labels = _tags.Length == 0
                ? string.Empty
                : "{" + string.Join(",", _tags.Select(t => $"{Sanitize(t.Key)}=\"{LabelValue(t.Value)}\"")) + "}";
        }

        public string Labels { get; }

        public double Value => BitConverter.Int64BitsToDouble(Interlocked.Read(ref _valueBits));

        public bool Matches(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            if (tags.Length != _tags.Length)
            {
                return false;
            }

            foreach (var tag in tags)
            {
                var found = false;
                foreach (var mine in _tags)
                {
                    if (mine.Key == tag.Key && Equals(mine.Value, tag.Value))
                    {
                        found = true;
                        break;
                    }
                }

                if (!found)
                {
                    return false;
                }
            }

            return true;
        }

        public void Set(double value) => Interlocked.Exchange(ref _valueBits, BitConverter.DoubleToInt64Bits(value));

        public void Add(double value)
        {
            long initial, updated;
            do
            {
                initial = Interlocked.Read(ref _valueBits);
                updated = BitConverter.DoubleToInt64Bits(BitConverter.Int64BitsToDouble(initial) + value);
            }
            while (Interlocked.CompareExchange(ref _valueBits, updated, initial) != initial);
        }

        public void Observe(double value, double[] buckets)
        {
            Add(value);
            Interlocked.Increment(ref _count);
            var i = Array.BinarySearch(buckets, value);
            if (i < 0)
            {
                i = ~i;
            }

            if (i < buckets.Length)
            {
                Interlocked.Increment(ref _bucketCounts[i]);
            }
        }

        public void WriteHistogram(StringBuilder sb, string name, double[] buckets)
        {
            long cumulative = 0;
            var inner = Labels.Length == 0 ? string.Empty : Labels[1..^1] + ",";
            for (var i = 0; i < buckets.Length; i++)
            {
                cumulative += Interlocked.Read(ref _bucketCounts[i]);
                sb.Append(name).Append("_bucket{").Append(inner).Append("le=\"").Append(Format(buckets[i])).Append("\"} ")
                    .Append(cumulative.ToString(CultureInfo.InvariantCulture)).Append('\n');
            }

            var count = Interlocked.Read(ref _count);
            sb.Append(name).Append("_bucket{").Append(inner).Append("le=\"+Inf\"} ").Append(count.ToString(CultureInfo.InvariantCulture)).Append('\n');
            sb.Append(name).Append("_sum").Append(Labels).Append(' ').Append(Format(Value)).Append('\n');
            sb.Append(name).Append("_count").Append(Labels).Append(' ').Append(count.ToString(CultureInfo.InvariantCulture)).Append('\n');
        }

        private static string LabelValue(object? value) =>
            (Convert.ToString(value, CultureInfo.InvariantCulture) ?? string.Empty)
            .Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
    }

    private static string Format(double v) =>
        double.IsPositiveInfinity(v) ? "+Inf" : double.IsNegativeInfinity(v) ? "-Inf" : v.ToString("R", CultureInfo.InvariantCulture);
}
