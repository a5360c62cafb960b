#!/usr/bin/perl
# model-stale.pl — says why a trained model is not what its rule would train now: its recorded
# architecture text (metadata `arch`) against the arch file, its recorded vx-train arguments
# (`train_options`, vx-model(5)) against the rule's. Prints one line when they differ, nothing when
# they agree or when there is no model to compare (make trains a missing target anyway). The rules
# in pipelines/*.mk run it when the Makefile is read and add FORCE to the model's prerequisites when
# it prints; it reads only the committed files, so a fresh clone's checkout times never matter.
# Usage: perl pipelines/model-stale.pl MODEL ARCH VX-TRAIN-ARGUMENTS...
use strict;
use warnings;

my ($model, $arch, @args) = @ARGV;
defined $arch or die "usage: model-stale.pl MODEL ARCH VX-TRAIN-ARGUMENTS...\n";
open my $m, '<:raw', $model or exit 0;

# The metadata entries (formats/model.md): after a 40-byte header, u32 key length, u32 value length,
# key, value, all little-endian.
my %meta;
my $head;
read($m, $head, 40) == 40 && substr($head, 0, 8) eq "\x89VXM\r\n\x1a\n" or do { print "$model: not a model file\n"; exit 0 };
my $entries = unpack 'V', substr($head, 12, 4);
for (1 .. ($entries > 1024 ? 1024 : $entries)) {
    my $lens;
    read($m, $lens, 8) == 8 or last;
    my ($kl, $vl) = unpack 'VV', $lens;
    last if $kl > 4096 || $vl > (1 << 20);
    my ($k, $v) = ('', '');
    read($m, $k, $kl) == $kl && read($m, $v, $vl) == $vl or last;
    $meta{$k} = $v;
}

# vx-train leaves out what never changes the model (--progress, the thread count) and keeps at
# most 1023 bytes of the rest.
my @kept;
for (my $i = 0; $i < @args; $i++) {
    my $a = $args[$i];
    next if $a eq '--progress' || $a =~ /^--threads=/ || $a =~ /^-j./;
    if ($a eq '--threads' || $a eq '-j') { $i++; next; }
    push @kept, $a;
}
my $want = substr join(' ', @kept), 0, 1023;
my $had = $meta{train_options} // '';

my @why;
if ($had ne $want) {
    # The words that differ, past the common beginning and end, from the option they belong to.
    my @o = split ' ', $had;
    my @n = split ' ', $want;
    my $b = 0;
    $b++ while $b < @o && $b < @n && $o[$b] eq $n[$b];
    my $e = 0;
    $e++ while $e < @o - $b && $e < @n - $b && $o[-1 - $e] eq $n[-1 - $e];
    my $option = sub { my $i = shift; ($i < @o && $o[$i] =~ /^-/) || ($i < @n && $n[$i] =~ /^-/) };
    $b-- while $b > 0 && !$option->($b);
    push @why, $had eq '' ? 'no recorded recipe'
        : "trained with '@o[$b .. $#o - $e]', the recipe now says '@n[$b .. $#n - $e]'";
}
my $text = '';
if (open my $a, '<:raw', $arch) { local $/; $text = <$a> // ''; }
push @why, "$arch changed" if $text ne ($meta{arch} // '');
print "$model: @{[join '; ', @why]}\n" if @why;
