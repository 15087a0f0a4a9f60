set terminal pngcairo size 720,440 font ',10'
set output 'examples/gn_vs_bn/results/study.png'
set title 'tapegrad: ResNet on Fashion-MNIST, test error vs batch size per worker'
set logscale x 2
set xrange [40:1.6]
set xtics (32, 16, 8, 4, 2)
set xlabel 'batch size per worker (images)'
set ylabel 'test error (%), mean ± std over seeds'
set grid
set key outside right top
set yrange [9.705458:12.508712]
plot 'examples/gn_vs_bn/results/study.dat' index 0 using 1:2:3 with yerrorlines lw 2 pt 7 title 'BatchNorm', 'examples/gn_vs_bn/results/study.dat' index 1 using 1:2:3 with yerrorlines lw 2 pt 7 title 'GroupNorm'
